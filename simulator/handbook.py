"""Handbook mode: the simulated card traffic of Le Borgne et al. (2022).

"Reproducible Machine Learning for Credit Card Fraud Detection – Practical
Handbook", chapter 3 ("Simulated dataset"), describes a small generative
process whose published baselines (chapters 3.4 and 5.3) riskwatch is
measured against. This module follows that description, so the baselines
apply to what it makes:

* customers and terminals placed uniformly on a 100 × 100 grid; a customer
  uses the terminals strictly within ``radius`` of them (customers with none
  make no transactions);
* per customer a mean amount ~ U(5, 100) with std = mean / 2 and a mean
  number of transactions per day ~ U(0, 4);
* per customer-day a Poisson number of transactions; each one's second of the
  day ~ N(43 200, 20 000) truncated to an integer, and *dropped* unless it
  falls strictly inside the day (the Handbook drops, it does not clip: that is
  what gives its 1.75 M transactions); amount ~ N(mean, std), a negative draw
  replaced by U(0, 2·mean), rounded to cents (one that rounds to 0.00 is
  made 0.01: riskwatch refuses a zero amount; about 30 of 1.75 M); terminal
  uniform among the customer's terminals;
* frauds, applied in this order (a later scenario relabels an earlier one):
  1. every amount above 220;
  2. on each day ``d`` but the last, 2 terminals drawn at random are
     compromised on days ``d`` .. ``d + 27``: all their transactions are fraud;
  3. on each day ``d`` but the last, 3 customers drawn at random are
     compromised on days ``d`` .. ``d + 13``: a third (rounded down) of their
     transactions in that window, drawn at random, get amount × 5 and are
     fraud (a transaction drawn in two overlapping windows is multiplied twice,
     as in the Handbook).

The 2 and the 3 are settings (``compromised_terminals_per_day``,
``compromised_customers_per_day``) so that a small test world need not be
overrun by fraud; their defaults are the Handbook's.

Randomness comes from numpy's ``default_rng`` seeded from the config, not
from the Handbook's legacy per-customer ``np.random.seed`` calls, so the
figures match the Handbook's in distribution, not draw for draw.

Mapped onto riskwatch's contract: channel ``pos``, kind ``purchase``, debit;
customer ``C000042`` with account ``A000042`` and card token ``HB-C000042``
(card = customer; the token cannot be mistaken for a card number);
``terminal_id`` ``TERM00042``; ``lat``/``lon`` are left absent (the grid is
not on the globe; a 0..100 "latitude" would be invalid), ``country`` and
``city`` absent. Time is UTC, day 0 starting at midnight of ``start``.
Labels come only for frauds, with ``ts`` = transaction time + the label
delay: the moment the fraud becomes known.

:func:`generate_handbook` gives the whole run as numpy columns (what the
statistics tests and the evaluation read); :func:`simulate_handbook` gives
it as :class:`~simulator.events.SimulatedEvent` objects, and
:func:`handbook_wire` as JSON lines for files and topics.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import orjson

from riskwatch.contracts import Label, Transaction, ts_to_iso
from simulator.errors import ConfigError
from simulator.events import SimulatedEvent
from simulator.ids import account_id, customer_id, run_tag, txn_id
from simulator.wire import WireEvent

#: Scenario codes in :attr:`HandbookData.scenario` (0 = legitimate) and their names.
SCENARIO_NAMES: dict[int, str] = {
    1: "handbook_amount_over_220",
    2: "handbook_compromised_terminal",
    3: "handbook_compromised_customer",
}
AMOUNT_THRESHOLD_CENTS = 220_00
TERMINALS_PER_DAY = 2
TERMINAL_DAYS = 28
CUSTOMERS_PER_DAY = 3
CUSTOMER_DAYS = 14
DAY_SECONDS = 86_400
TIME_MEAN_SECONDS = 43_200
TIME_STD_SECONDS = 20_000
#: Customers whose distances to every terminal are computed at once (memory bound).
_DISTANCE_CHUNK = 512


@dataclass(frozen=True, slots=True)
class HandbookConfig:
    """Settings of one Handbook-mode run; the defaults are the Handbook's."""

    seed: int = 0
    customers: int = 5000
    terminals: int = 10000
    days: int = 183
    start: date = date(2018, 4, 1)
    radius: float = 5.0
    label_delay_days: int = 7
    currency: str = "EUR"
    #: The Handbook's 2 and 3; smaller worlds (tests) may scale them down.
    compromised_terminals_per_day: int = TERMINALS_PER_DAY
    compromised_customers_per_day: int = CUSTOMERS_PER_DAY

    def __post_init__(self) -> None:
        ints = ("seed", "customers", "terminals", "days", "label_delay_days")
        per_day = ("compromised_terminals_per_day", "compromised_customers_per_day")
        for name in ints + per_day:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                msg = f"{name} must be an int, got {value!r}"
                raise ConfigError(msg)
        if not 1 <= self.customers <= 999_999:
            msg = f"customers must be 1..999999, got {self.customers}"
            raise ConfigError(msg)
        if not 1 <= self.terminals <= 99_999:
            msg = f"terminals must be 1..99999, got {self.terminals}"
            raise ConfigError(msg)
        for name, most in zip(per_day, (self.terminals, self.customers), strict=True):
            if not 0 <= getattr(self, name) <= most:
                msg = f"{name} must be 0..{most}, got {getattr(self, name)}"
                raise ConfigError(msg)
        if not 1 <= self.days <= 3660:
            msg = f"days must be 1..3660, got {self.days}"
            raise ConfigError(msg)
        if self.label_delay_days < 0:
            msg = f"label_delay_days must be >= 0, got {self.label_delay_days}"
            raise ConfigError(msg)
        if not (isinstance(self.radius, int | float) and self.radius > 0):
            msg = f"radius must be a positive number, got {self.radius!r}"
            raise ConfigError(msg)
        if isinstance(self.start, datetime) or not isinstance(self.start, date):
            msg = f"start must be a date, got {self.start!r}"
            raise ConfigError(msg)

    @property
    def start_ts(self) -> datetime:
        """Midnight UTC of the first day."""
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    def tag(self) -> str:
        """Eight hex digits naming these settings: the prefix of the run's txn ids."""
        return run_tag(
            "handbook",
            self.seed,
            self.customers,
            self.terminals,
            self.days,
            self.start.isoformat(),
            self.radius,
            self.currency,
            self.compromised_terminals_per_day,
            self.compromised_customers_per_day,
        )


@dataclass(frozen=True, slots=True)
class HandbookData:
    """A whole run as columns, one row per transaction in event-time order.

    ``seconds`` counts from midnight UTC of ``config.start``; ``day`` is
    ``seconds // 86400`` (the Handbook's ``TX_TIME_DAYS``); ``scenario`` is 0
    for legitimate transactions, else a key of :data:`SCENARIO_NAMES`.
    Row ``i`` is transaction number ``i + 1`` of the run.
    """

    config: HandbookConfig
    seconds: np.ndarray
    customer: np.ndarray
    terminal: np.ndarray
    cents: np.ndarray
    scenario: np.ndarray
    customer_mean_amount: np.ndarray
    customer_mean_per_day: np.ndarray
    customer_terminal_count: np.ndarray

    def __len__(self) -> int:
        return len(self.seconds)

    @property
    def day(self) -> np.ndarray:
        return self.seconds // DAY_SECONDS

    @property
    def fraud(self) -> np.ndarray:
        return self.scenario > 0

    def txn_ids(self) -> list[str]:
        tag = self.config.tag()
        return [txn_id(tag, n) for n in range(1, len(self) + 1)]


def generate_handbook(config: HandbookConfig) -> HandbookData:
    """The whole run, vectorised; deterministic from ``config``."""
    if not isinstance(config, HandbookConfig):
        msg = f"expected a HandbookConfig, got {type(config).__name__}"
        raise ConfigError(msg)
    world, traffic, fraud = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(3)
    )
    n_c, n_t = config.customers, config.terminals
    cust_xy = world.uniform(0.0, 100.0, size=(n_c, 2))
    mean_amount = world.uniform(5.0, 100.0, size=n_c)
    mean_per_day = world.uniform(0.0, 4.0, size=n_c)
    term_xy = world.uniform(0.0, 100.0, size=(n_t, 2))
    offsets, reachable = _terminals_within(cust_xy, term_xy, config.radius)
    n_reachable = np.diff(offsets)

    # Transactions: a Poisson count per customer-day, expanded to rows.
    counts = traffic.poisson(np.repeat(mean_per_day, config.days)).reshape(n_c, config.days)
    counts[n_reachable == 0] = 0
    flat = counts.ravel()
    cell = np.repeat(np.arange(flat.size), flat)
    customer = cell // config.days
    day = cell % config.days
    n = customer.size
    second = traffic.normal(TIME_MEAN_SECONDS, TIME_STD_SECONDS, size=n).astype(np.int64)
    amount = traffic.normal(mean_amount[customer], mean_amount[customer] / 2.0)
    negative = amount < 0.0
    amount[negative] = traffic.uniform(0.0, 2.0 * mean_amount[customer[negative]])
    pick = (traffic.random(n) * n_reachable[customer]).astype(np.int64)
    terminal = reachable[offsets[customer] + pick]
    kept = (second > 0) & (second < DAY_SECONDS)
    seconds = day[kept] * DAY_SECONDS + second[kept]
    customer, terminal = customer[kept], terminal[kept]
    # riskwatch refuses a zero amount; the few draws that round to 0.00 pay one cent.
    cents = np.maximum(np.rint(amount[kept] * 100.0).astype(np.int64), 1)

    order = np.lexsort((customer, seconds))  # by time, ties by customer: stable and total
    seconds, customer, terminal, cents = (
        seconds[order],
        customer[order],
        terminal[order],
        cents[order],
    )
    scenario = _add_frauds(config, fraud, seconds // DAY_SECONDS, customer, terminal, cents)
    return HandbookData(
        config=config,
        seconds=seconds,
        customer=customer.astype(np.int32),
        terminal=terminal.astype(np.int32),
        cents=cents,
        scenario=scenario,
        customer_mean_amount=mean_amount,
        customer_mean_per_day=mean_per_day,
        customer_terminal_count=n_reachable,
    )


def _terminals_within(
    cust_xy: np.ndarray, term_xy: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's terminals within ``radius`` (strictly), as CSR offsets + indices."""
    rows: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    r2 = radius * radius
    for lo in range(0, len(cust_xy), _DISTANCE_CHUNK):
        chunk = cust_xy[lo : lo + _DISTANCE_CHUNK]
        d2 = ((chunk[:, None, :] - term_xy[None, :, :]) ** 2).sum(axis=2)
        near_c, near_t = np.nonzero(d2 < r2)
        rows.append(near_t)
        sizes.append(np.bincount(near_c, minlength=len(chunk)))
    offsets = np.zeros(len(cust_xy) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(sizes), out=offsets[1:])
    return offsets, np.concatenate(rows).astype(np.int64)


def _add_frauds(
    config: HandbookConfig,
    rng: np.random.Generator,
    day: np.ndarray,
    customer: np.ndarray,
    terminal: np.ndarray,
    cents: np.ndarray,
) -> np.ndarray:
    """Label the three scenarios in the Handbook's order; scale scenario-3 amounts in place."""
    scenario = np.zeros(day.size, dtype=np.int8)
    scenario[cents > AMOUNT_THRESHOLD_CENTS] = 1

    draw_days = range(max(config.days - 1, 0))  # the Handbook's range(max(TX_TIME_DAYS))
    compromised = np.zeros((config.terminals, config.days), dtype=bool)
    for d in draw_days:
        picked = rng.choice(
            config.terminals, size=config.compromised_terminals_per_day, replace=False
        )
        compromised[picked, d : d + TERMINAL_DAYS] = True
    scenario[compromised[terminal, day]] = 2

    # Rows of each customer in time order, to find a customer's window quickly.
    by_customer = np.argsort(customer, kind="stable")
    starts = np.searchsorted(customer[by_customer], np.arange(config.customers + 1))
    for d in draw_days:
        picked = rng.choice(
            config.customers, size=config.compromised_customers_per_day, replace=False
        )
        windows = []
        for c in picked:
            rows = by_customer[starts[c] : starts[c + 1]]
            days_of = day[rows]
            lo, hi = np.searchsorted(days_of, [d, d + CUSTOMER_DAYS])
            windows.append(rows[lo:hi])
        if not windows:
            continue
        candidates = np.sort(np.concatenate(windows))
        k = candidates.size // 3
        if k == 0:
            continue
        hit = rng.choice(candidates, size=k, replace=False)
        cents[hit] *= 5
        scenario[hit] = 3
    return scenario


def card_token(customer_index: int) -> str:
    """The card of a Handbook customer: one per customer, and no card number."""
    return f"HB-{customer_id(customer_index)}"


def terminal_token(terminal_index: int) -> str:
    return f"TERM{terminal_index:05d}"


def simulate_handbook(config: HandbookConfig) -> Iterator[SimulatedEvent]:
    """Every transaction of the run in event-time order, frauds with their delayed label.

    The columns are generated eagerly (they are small: about 40 MB at full
    size); the objects are made lazily, one at a time.
    """
    return _events(generate_handbook(config))


def _events(data: HandbookData) -> Iterator[SimulatedEvent]:
    config = data.config
    tag, currency = config.tag(), config.currency
    start = config.start_ts
    second = timedelta(seconds=1)
    delay = timedelta(days=config.label_delay_days)
    names = SCENARIO_NAMES
    for n, (s, c, t, cents, sc) in enumerate(
        zip(
            data.seconds.tolist(),
            data.customer.tolist(),
            data.terminal.tolist(),
            data.cents.tolist(),
            data.scenario.tolist(),
            strict=True,
        ),
        1,
    ):
        ts = start + s * second
        cust = customer_id(c)
        txn = Transaction(
            txn_id=txn_id(tag, n),
            ts=ts,
            customer_id=cust,
            account_id=account_id(c),
            channel="pos",
            direction="debit",
            kind="purchase",
            amount=Decimal(cents).scaleb(-2),
            currency=currency,
            card_id=card_token(c),
            terminal_id=terminal_token(t),
        )
        if sc == 0:
            yield SimulatedEvent(txn)
        else:
            label = Label(txn.txn_id, cust, "fraud", "simulator", ts + delay, names[sc])
            yield SimulatedEvent(txn, label)


def handbook_wire(config: HandbookConfig) -> Iterator[WireEvent]:
    """The run as wire bytes (``orjson`` of each contract's ``to_json_dict``).

    Labels come in the transaction stream's order; :func:`label_records`
    gives them sorted by the time they become known, for a labels file.
    """
    for event in simulate_handbook(config):
        label = event.label
        yield WireEvent(
            event.txn.customer_id.encode("utf-8"),
            orjson.dumps(event.txn.to_json_dict()),
            None if label is None else orjson.dumps(label.to_json_dict()),
        )


def label_records(data: HandbookData) -> list[tuple[int, bytes]]:
    """Each fraud's label as (epoch ms when known, JSON bytes), sorted by when known."""
    config = data.config
    tag = config.tag()
    start = config.start_ts
    delay_s = config.label_delay_days * DAY_SECONDS
    out: list[tuple[int, bytes]] = []
    start_ms = int(start.timestamp()) * 1000
    for row in np.flatnonzero(data.scenario).tolist():
        s = int(data.seconds[row])
        c = int(data.customer[row])
        known = start + timedelta(seconds=s + delay_s)
        record = {
            "txn_id": txn_id(tag, row + 1),
            "customer_id": customer_id(c),
            "label": "fraud",
            "source": "simulator",
            "ts": ts_to_iso(known),
            "scenario": SCENARIO_NAMES[int(data.scenario[row])],
        }
        out.append((start_ms + (s + delay_s) * 1000, orjson.dumps(record)))
    out.sort(key=lambda item: item[0])
    return out


def write_handbook_files(data: HandbookData, transactions: Path, labels: Path) -> tuple[int, int]:
    """Write the run as JSON lines: transactions in event-time order, labels by when known.

    Byte for byte what serialising :func:`simulate_handbook`'s events with
    ``orjson`` gives (the tests hold the two equal), formatted straight from
    the columns, which is several times faster. Returns the two line counts.
    """
    config = data.config
    tag, currency = config.tag(), config.currency
    start = config.start_ts
    prefixes = [(start + timedelta(days=d)).strftime("%Y-%m-%dT") for d in range(config.days)]
    with transactions.open("wb") as out:
        lines: list[str] = []
        rows = zip(
            data.seconds.tolist(),
            data.customer.tolist(),
            data.terminal.tolist(),
            data.cents.tolist(),
            strict=True,
        )
        for n, (s, c, t, cents) in enumerate(rows, 1):
            day, rest = divmod(s, DAY_SECONDS)
            hh, rest = divmod(rest, 3600)
            mm, ss = divmod(rest, 60)
            lines.append(
                f'{{"txn_id":"{txn_id(tag, n)}","ts":"{prefixes[day]}{hh:02d}:{mm:02d}:{ss:02d}'
                f'.000Z","customer_id":"{customer_id(c)}","account_id":"{account_id(c)}",'
                '"channel":"pos","direction":"debit","kind":"purchase",'
                f'"amount":"{cents // 100}.{cents % 100:02d}","currency":"{currency}",'
                f'"card_id":"{card_token(c)}","terminal_id":"{terminal_token(t)}"}}\n'
            )
            if len(lines) >= 65_536:
                out.write("".join(lines).encode("utf-8"))
                lines.clear()
        out.write("".join(lines).encode("utf-8"))
    records = label_records(data)
    with labels.open("wb") as out:
        out.write(b"".join(record + b"\n" for _, record in records))
    return len(data), len(records)
