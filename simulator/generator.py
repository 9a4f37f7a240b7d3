"""The simulation loop: a population living day by day, with scenarios injected.

Each local day, every customer's routine yields their legitimate drafts;
customers picked for a scenario that day also get the scenario's drafts,
each incident stamped with the moment its label becomes known (its last
transaction plus a delay drawn from ``config.label_delays``). A customer's
drafts are settled in time order against their balance (everyday spending
the balance cannot cover does not happen), the day's drafts are sorted by
time, numbered, and emitted. Attack drafts that fall on later days wait in
the victim's state and are settled on their own day, so the balance moves
when the money does; the stream is sorted by event time from end to end.

Independent random streams are derived from the seed: one builds the
world, two drive legitimate behaviour (a numpy generator for the everyday
habits, drawn for the whole population a day at a time, and a
``random.Random`` for the rest), one drives fraud. Changing the fraud rates
therefore leaves the legitimate draws alone. Nothing reads the wall
clock or any module-level state: one config, one event sequence.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from operator import attrgetter
from typing import TypeVar

import numpy as np

from riskwatch.contracts import Label, Transaction, ts_to_ms
from simulator.collector import collector_paused, world_frozen
from simulator.config import SimulationConfig
from simulator.days import DAY_MS, EPOCH, HOUR_MS, Day, local_days
from simulator.errors import ConfigError
from simulator.events import CREDIT_KINDS, Draft, SimulatedEvent
from simulator.ids import TokenMinter, txn_id
from simulator.population import Population, build_population
from simulator.routine import Routine
from simulator.scenarios import SCENARIOS, Scenario, Target
from simulator.state import CustomerState
from simulator.wire import WireEvent, WireFormatter

_TS = attrgetter("ts_ms")
_Event = TypeVar("_Event")


def simulate(config: SimulationConfig) -> Iterator[SimulatedEvent]:
    """Every event of the run, in event-time order, labelled where it is fraud.

    Lazy: events are produced a day at a time, so a long run does not sit in
    memory. The config is checked now, not at the first ``next()``.
    """
    _check(config)
    return _events(config)


def simulate_wire(config: SimulationConfig) -> Iterator[WireEvent]:
    """The same events as :func:`simulate`, already serialised.

    Byte for byte what serialising :func:`simulate`'s events gives, several
    times faster; for writing files and topics, and for feeding the monitor
    raw records as if they came from Kafka.
    """
    _check(config)
    return _wire(config)


def _check(config: object) -> None:
    if not isinstance(config, SimulationConfig):
        msg = f"expected a SimulationConfig, got {type(config).__name__}"
        raise ConfigError(msg)


def _events(config: SimulationConfig) -> Iterator[SimulatedEvent]:
    tag, currency, credits = config.tag(), config.currency, CREDIT_KINDS
    epoch, ms = EPOCH, timedelta(milliseconds=1)
    labels = {name: scenario.label for name, scenario in SCENARIOS.items()}

    def event(n: int, draft: Draft) -> SimulatedEvent:
        customer = draft.customer
        kind = draft.kind
        txn = Transaction(
            txn_id(tag, n),
            epoch + draft.ts_ms * ms,
            customer.customer_id,
            customer.account_id,
            draft.channel,
            "credit" if kind in credits else "debit",
            kind,
            Decimal(draft.cents).scaleb(-2),
            currency,
            **draft.extras,
        )
        scenario = draft.scenario
        if scenario is None:
            return SimulatedEvent(txn)
        known = epoch + draft.known_ms * ms
        label = Label(
            txn.txn_id, customer.customer_id, labels[scenario], "simulator", known, scenario
        )
        return SimulatedEvent(txn, label)

    def day(first: int, drafts: list[Draft], ranks: list[int]) -> list[SimulatedEvent]:
        out: list[SimulatedEvent | None] = [None] * len(drafts)
        for draft, rank in zip(drafts, ranks, strict=True):
            out[rank] = event(first + rank, draft)
        return out  # type: ignore[return-value]  # every rank is filled

    return _numbered(config, day)


def _wire(config: SimulationConfig) -> Iterator[WireEvent]:
    return _numbered(config, WireFormatter(config.tag(), config.currency).format_day)


def _numbered(
    config: SimulationConfig, render: Callable[[int, list[Draft], list[int]], list[_Event]]
) -> Iterator[_Event]:
    """Every draft of the run, numbered from 1 in time order and rendered a day at a time.

    ``render(first, drafts, ranks)`` gets a day's drafts in the order they
    were made and each one's place in time order, and returns the rendered
    events in time order, numbered from ``first``: rendering (and freeing)
    drafts in the order they were made walks memory in the order it was
    allocated, where time order jumps from customer to customer (a quarter
    of the formatter's time went to cache misses).

    Each day is built and rendered with the cyclic garbage collector paused
    (see :func:`simulator.collector.collector_paused`), and its drafts are
    freed before the collector is back on: what the consumer then holds are
    rendered events, which the collector drops from its lists on its first
    look, instead of a day of drafts, whose promotion to the old generation
    made full collections walk the whole world again and again.
    """
    n = 0
    days = _days(config)
    with ExitStack() as frozen:
        while True:
            with collector_paused():
                day = next(days, None)
                if day is None:
                    return
                drafts, ranks = day
                if n == 0:
                    # The world is built now and lives as long as the run: the
                    # collector need not walk it (simulator.collector.world_frozen).
                    frozen.enter_context(world_frozen())
                events = render(n + 1, drafts, ranks)
                n += len(drafts)
                drafts.clear()
            yield from events


def population_of(config: SimulationConfig) -> Population:
    """The world a run with ``config`` simulates, before its first day.

    For inspecting a run: who its customers are, their segments, incomes
    and opening balances.
    """
    _check(config)
    return _world(config)[0]


def _world(config: SimulationConfig) -> tuple[Population, TokenMinter]:
    minter = TokenMinter()
    return build_population(config.customers, _stream(config, "world"), minter), minter


def _stream(config: SimulationConfig, purpose: str) -> random.Random:
    # String seeds are hashed with SHA-512 by ``random``: stable across
    # processes and Python builds, unlike ``hash()`` of a str.
    return random.Random(f"riskwatch-simulator/{config.seed}/{purpose}")


def _vector_stream(config: SimulationConfig, purpose: str) -> np.random.Generator:
    """A numpy generator for ``purpose``, seeded like :func:`_stream` from a stable hash."""
    digest = hashlib.sha512(f"riskwatch-simulator/{config.seed}/{purpose}".encode()).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "big")))


def _days(config: SimulationConfig) -> Iterator[tuple[list[Draft], list[int]]]:
    """The drafts of the run that happen, a day at a time, in event-time order.

    Meant to be advanced with the collector paused (:func:`_numbered` does).
    A day's list is the consumer's to empty.
    """
    population, minter = _world(config)
    legit_rng = _stream(config, "legit")
    legit_gen = _vector_stream(config, "legit")
    fraud_rng = _stream(config, "fraud")
    routine = Routine(population, minter)
    customers = population.customers
    states = [CustomerState.opening(c) for c in customers]
    active = [(SCENARIOS[name], rate) for name, rate in config.rates.items() if rate > 0.0]
    delays = {
        value: (lo * HOUR_MS, hi * HOUR_MS) for value, (lo, hi) in config.label_delays.items()
    }
    pools = {"all": range(len(customers)), "dormant": population.dormant}
    end_ms = ts_to_ms(config.end)

    pending: list[Draft] = []
    for day in local_days(config.start, config.days):
        attacks = _victims(active, pools, day, fraud_rng)
        everyone = routine.day(states, day, legit_rng, legit_gen)
        for customer, state, drafts in zip(customers, states, everyone, strict=True):
            if state.later:
                drafts.extend(_due(state, day.end_ms))
            if state.compromise is not None:
                _inflate(drafts, state, day, fraud_rng)
            planned = attacks.get(customer.index)
            if planned is None:
                if drafts:  # most customer-days have none or one: skip the calls
                    if len(drafts) > 1:
                        drafts.sort(key=_TS)
                    state.balance_cents = _settle(drafts, state.balance_cents, day, end_ms, pending)
                continue
            drafts.sort(key=_TS)
            opening = state.balance_cents
            settled: list[Draft] = []
            _settle(drafts, opening, day, end_ms, settled)
            injected: list[Draft] = []
            for scenario in planned:
                latest = min(day.end_ms, end_ms - scenario.max_span_ms)
                if latest <= day.lo_ms:
                    continue  # too little of the window left for this attack
                target = Target(
                    customer,
                    state,
                    day,
                    day.lo_ms,
                    latest,
                    population,
                    minter,
                    opening,
                    settled,
                )
                incident = scenario.inject(target, fraud_rng)
                if incident:
                    lo, hi = delays[scenario.label]
                    known = max(d.ts_ms for d in incident) + int(
                        lo + (hi - lo) * fraud_rng.random()
                    )
                    injected.extend(
                        d if d.scenario is None else d._replace(known_ms=known) for d in incident
                    )
                elif (leak := state.compromise) is not None and leak.scenario == scenario.name:
                    if leak.known_ms:
                        continue  # an earlier leak is still running; it is reported as one
                    lo, hi = delays[scenario.label]
                    last = day.start_ms + (leak.last_day - day.index + 1) * DAY_MS
                    known = last + int(lo + (hi - lo) * fraud_rng.random())
                    state.compromise = replace(leak, known_ms=known)
            today = [d for d in injected if d.ts_ms < day.end_ms]
            state.later.extend(d for d in injected if d.ts_ms >= day.end_ms)
            merged = sorted(settled + today, key=_TS)
            state.balance_cents = _settle(merged, opening, day, end_ms, pending)
        # Nothing of the day may outlive it but what is due: drafts still held
        # here when the collector runs again would be walked by it.
        everyone.clear()
        drafts = settled = merged = today = injected = []
        end = day.end_ms
        due = [d for d in pending if d.ts_ms < end]
        pending = [d for d in pending if d.ts_ms >= end]
        yield due, _ranks(due)
    yield pending, _ranks(pending)


def _ranks(drafts: list[Draft]) -> list[int]:
    """Each draft's place in time order (ties keep their order), as ``sorted`` would put it."""
    order = np.argsort(np.fromiter((d.ts_ms for d in drafts), np.int64, len(drafts)), kind="stable")
    ranks = np.empty(len(drafts), dtype=np.int64)
    ranks[order] = np.arange(len(drafts))
    return ranks.tolist()


def _due(state: CustomerState, before_ms: int) -> list[Draft]:
    """Take the customer's held-back attack drafts that fall before ``before_ms``."""
    due = [d for d in state.later if d.ts_ms < before_ms]
    if due:
        state.later = [d for d in state.later if d.ts_ms >= before_ms]
    return due


#: Channels on which leaked credentials buy things.
_REMOTE = frozenset({"online", "mobile", "thirdparty"})


def _inflate(drafts: list[Draft], state: CustomerState, day: Day, rng: random.Random) -> None:
    """Turn a share of a compromised customer's remote purchases into the fraudster's."""
    leak = state.compromise
    if leak is None:
        return
    if day.index > leak.last_day:
        state.compromise = None
        return
    if day.index < leak.first_day:
        return
    for i, draft in enumerate(drafts):
        if (
            draft.kind == "purchase"
            and draft.scenario is None
            and draft.channel in _REMOTE
            and rng.random() < leak.share
        ):
            drafts[i] = draft._replace(
                cents=round(draft.cents * leak.factor),
                scenario=leak.scenario,
                discretionary=False,
                known_ms=leak.known_ms,
            )


def _victims(
    active: Sequence[tuple[Scenario, float]],
    pools: Mapping[str, Sequence[int]],
    day: Day,
    rng: random.Random,
) -> dict[int, list[Scenario]]:
    """Who each scenario hits today.

    Skips ahead by geometric gaps instead of rolling a die per customer, so
    the cost follows the number of victims, not the population.
    """
    hits: dict[int, list[Scenario]] = {}
    for scenario, rate in active:
        p = rate * day.covered
        if p <= 0.0:
            continue
        pool = pools[scenario.pool]
        chosen = range(len(pool)) if p >= 1.0 else _bernoulli_indices(len(pool), p, rng)
        for k in chosen:
            hits.setdefault(pool[k], []).append(scenario)
    return hits


def _bernoulli_indices(n: int, p: float, rng: random.Random) -> list[int]:
    """Indices below ``n``, each in with probability ``p``, found by geometric skips."""
    out: list[int] = []
    log_q = math.log1p(-p)
    index = -1
    while True:
        index += 1 + int(math.log(1.0 - rng.random()) / log_q)
        if index >= n:
            return out
        out.append(index)


def _settle(drafts: list[Draft], balance: int, day: Day, end_ms: int, out: list[Draft]) -> int:
    """Append to ``out`` the drafts that happen, in order; return the closing balance.

    Drafts outside the window are dropped; everyday spending the balance
    cannot cover is skipped (the customer simply does not buy it).
    """
    lo = day.lo_ms
    for draft in drafts:
        ts = draft.ts_ms
        if ts < lo or ts >= end_ms:
            continue
        if draft.kind in CREDIT_KINDS:
            balance += draft.cents
        elif draft.discretionary and draft.cents > balance:
            continue
        else:
            balance -= draft.cents
        out.append(draft)
    return balance
