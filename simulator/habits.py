"""Everyday habits of a whole day, drawn for every customer at once with numpy.

Most simulated events are everyday habits (coffee, groceries, transit,
settlements), and drawing each one's count, habit, channel, time and amount
with a Python call per draw was half of the simulator's time. Here they are
drawn as arrays over the whole population: one Poisson count per
customer-day, then per event the habit (in proportion to the customer's
rates), the channel (by the habit's weights), the time (in one of the
habit's windows) and the amount (log-normal around the customer's median,
truncated to the habit's range). The same laws as drawing them one by one;
what is left to Python (:mod:`simulator.routine`) is choosing merchants,
cards and devices, which depends on the customer's changing state.

Dormant customers have no habits: their rates are zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.days import HOUR_MS, Day
from simulator.population import MONTH_DAYS, Customer
from simulator.segments import Habit

#: Tries at drawing a truncated log-normal amount inside the habit's range
#: before falling back near the bound the median is beyond.
_TRIES = 4


@dataclass(frozen=True, slots=True)
class HabitDraws:
    """One day's habit events, in customer order, as plain lists.

    ``customer`` is the customer's index, ``habit`` the index into
    :attr:`HabitTable.habits`, ``channel`` the channel drawn, ``ts_ms`` the
    moment and ``cents`` the amount.
    """

    customer: list[int]
    habit: list[int]
    channel: list[str]
    ts_ms: list[int]
    cents: list[int]


class HabitTable:
    """The population's habits as arrays: rates, medians, channels, hours, ranges.

    Built once per run; each segment's habits get consecutive global indices.
    """

    def __init__(self, customers: Sequence[Customer]) -> None:
        segments: dict[str, tuple[Habit, ...]] = {}
        for customer in customers:
            segments.setdefault(customer.segment.name, customer.segment.habits)
        self.habits: list[Habit] = []
        base: dict[str, int] = {}
        for name, habits in segments.items():
            base[name] = len(self.habits)
            self.habits.extend(habits)
        width = max((len(h) for h in segments.values()), default=1)
        n = len(customers)
        self._base = np.zeros(n, dtype=np.int64)
        self._count = np.ones(n, dtype=np.int64)
        # Cumulative rates per customer; unused slots are +inf, so that
        # counting the entries at or below a draw gives ``bisect_right``.
        self._weekday = np.full((n, width), np.inf)
        self._weekend = np.full((n, width), np.inf)
        self._weekday_total = np.zeros(n)
        self._weekend_total = np.zeros(n)
        self._median = np.ones((n, width))
        for customer in customers:
            i = customer.index
            habits = customer.segment.habits
            self._base[i] = base[customer.segment.name]
            self._count[i] = len(habits)
            self._median[i, : len(habits)] = [median_of(h, customer) for h in habits]
            if customer.dormant:
                continue
            for totals, table, (total, cumulative) in (
                (self._weekday_total, self._weekday, customer.weekday_rates),
                (self._weekend_total, self._weekend, customer.weekend_rates),
            ):
                totals[i] = total
                table[i, : len(cumulative)] = cumulative
        self._channels = _padded([[c for c, _ in h.channels] for h in self.habits], "")
        self._channel_cum = _cumulative([[w for _, w in h.channels] for h in self.habits])
        self._channel_n = np.array([len(h.channels) for h in self.habits])
        self._start = _padded([[w[0] for w in h.hours] for h in self.habits], 0.0).astype(float)
        self._end = _padded([[w[1] for w in h.hours] for h in self.habits], 0.0).astype(float)
        self._hours_cum = _cumulative([[w[2] for w in h.hours] for h in self.habits])
        self._hours_n = np.array([len(h.hours) for h in self.habits])
        self._sigma = np.array([h.sigma for h in self.habits])
        self._low = np.array([h.low for h in self.habits], dtype=float)
        self._high = np.array([h.high for h in self.habits], dtype=float)
        self._step = np.array([h.round_to for h in self.habits], dtype=float)

    def draw(self, day: Day, gen: np.random.Generator) -> HabitDraws:
        """Every customer's habit events on ``day``."""
        weekend = day.weekend
        totals = self._weekend_total if weekend else self._weekday_total
        counts = gen.poisson(totals)
        customer = np.repeat(np.arange(len(totals)), counts)
        size = len(customer)
        table = (self._weekend if weekend else self._weekday)[customer]
        local = (table <= (gen.random(size) * totals[customer])[:, None]).sum(axis=1)
        local = np.minimum(local, self._count[customer] - 1)
        habit = self._base[customer] + local
        rows = np.arange(size)

        chosen = (self._channel_cum[habit] <= gen.random(size)[:, None]).sum(axis=1)
        channel = self._channels[habit, np.minimum(chosen, self._channel_n[habit] - 1)]

        window = (self._hours_cum[habit] <= gen.random(size)[:, None]).sum(axis=1)
        window = np.minimum(window, self._hours_n[habit] - 1)
        start = self._start[habit, window]
        hours = start + (self._end[habit, window] - start) * gen.random(size)
        ts_ms = day.start_ms + (hours * HOUR_MS).astype(np.int64)

        cents = self._cents(self._median[customer, local], habit, rows, gen)
        return HabitDraws(
            customer.tolist(), habit.tolist(), channel.tolist(), ts_ms.tolist(), cents.tolist()
        )

    def _cents(
        self, median: np.ndarray, habit: np.ndarray, rows: np.ndarray, gen: np.random.Generator
    ) -> np.ndarray:
        """Truncated log-normal amounts: what falls outside the range is drawn again,
        so the bounds do not pile up as spikes of identical amounts."""
        low, high = self._low[habit], self._high[habit]
        amounts = median * np.exp(self._sigma[habit] * gen.standard_normal((_TRIES, len(habit))))
        inside = (amounts >= low) & (amounts <= high)
        amount = amounts[inside.argmax(axis=0), rows]
        # The median itself far outside the range: stay near the bound it is beyond.
        u = gen.random(len(habit))
        near = np.where(median < low, low * (1.0 + 0.5 * u), high * (1.0 - 0.3 * u))
        amount = np.where(inside.any(axis=0), amount, np.clip(near, low, high))
        step = self._step[habit]
        stepped = np.minimum(np.maximum(step, np.rint(amount / np.maximum(step, 1.0)) * step), high)
        amount = np.where(step > 0, stepped, amount)
        return np.rint(amount * 100).astype(np.int64)


def median_of(habit: Habit, customer: Customer) -> float:
    """The median amount of ``habit`` for ``customer``, fixed for the run."""
    sigma = habit.sigma
    if habit.income_share:
        daily = habit.income_share * customer.income_cents / 100 / MONTH_DAYS
        return daily / (habit.per_day * customer.activity) / math.exp(sigma * sigma / 2.0)
    if habit.scaled:
        return habit.median * customer.amount_scale
    return habit.median


def _padded(rows: list[list[object]], fill: object) -> np.ndarray:
    width = max(len(r) for r in rows)
    return np.array([[*r, *([fill] * (width - len(r)))] for r in rows], dtype=object)


def _cumulative(rows: list[list[float]]) -> np.ndarray:
    """Cumulative weights per row, +inf past the row's end (never at or below a draw)."""
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), np.inf)
    for i, row in enumerate(rows):
        out[i, : len(row)] = np.cumsum(row)
    return out
