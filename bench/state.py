"""The state and feature layer: events/s beside a trivial flow, and Redis bytes per customer.

Run it with ``make bench-state`` or::

    .venv/bin/python -m bench.state [--customers N] [--days D] [--repeat R] [--out PATH]
                                    [--held-customers N]

One simulated input (``--days`` of history, 35 by default so that every
customer carries the full 30-day windows) is read by four stages, in
interleaved rounds, in the same process and run (see bench/throughput.py for
why ratios to a baseline, not absolute rates, are the figure to compare):

* ``baseline``: JSONL source → orjson.loads → key by customer → count → discard
  (bench.throughput's yardstick)
* ``features``: JSONL source → parse → key by shard → the state store's
  ``begin`` per shard batch (its pipelined script calls, sent) and, at the
  shard's next batch, ``build_features`` per event as the updates are read →
  discard. No rules, no model. The time in
  the state store (``apply``: folding, the script calls, waiting for their
  replies) and inside ``build_features`` is reported as shares of the stage,
  and as the worker thread's CPU time (apply's without the wait for Redis);
  Redis's own time in the entity script (``INFO commandstats``) per event:
  it runs beside the worker, and only the part the worker waits for is in
  ``apply``'s wall time.
  A shard batch goes in one script call (at most ``flow.batch_size``
  events), not in calls of ``state.trip_events``: see ``run_benchmark``.
* ``features_waiting``: the same, each shard batch's features built before
  the step returns (the worker waits for the batch's last call, and Redis
  for the next batch), in calls of ``state.trip_events`` as the monitor
  makes them: what the overlap of ``features`` gains.
* ``monitor``: :func:`riskwatch.runner.run_monitor` over the file.
* ``features_trip_N`` (with ``--compare-trip-events N ...``): the features
  stage again with calls of at most N events, so that the size of the
  state calls is compared within one run.

How many events share a customer's blob decides much of the rate: a
customer's blob is packed and compressed once per shard batch that changes
it, and read and decoded from Redis whenever the store does not hold the
customer. The report gives both per event. The default input (300
customers) writes one blob per ~3.6 events and holds every customer; a
bank's worker sees each customer about once per batch and cannot hold most
of them: ``--customers 3000 --held-customers 300`` makes both about one per
event.

Memory: after a ``features`` run from an empty Redis, ``used_memory`` grows by
the state of every customer and entity (read with the client's connections
closed, so that their buffers are not counted). The slow log is emptied before both
readings: it keeps the arguments of the last 128 commands slower than 10 ms
(entity script calls, more of them the busier the machine), up to ~300 KB
that does not grow with the customers but had been counted as theirs. The
report gives the bytes per active customer in all, split into the customers'
own keys and the shared entity keys (terminals, merchants, devices,
counterparties; bucket hashes included, sized by :func:`entity_buckets`),
and projects both to ten million customers. Nothing is asserted about speed or size:
tests/test_state_bench.py only checks the report is complete.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import bytewax.operators as op
import orjson
import redis
from bytewax.dataflow import Dataflow
from bytewax.operators import StatefulBatchLogic
from bytewax.outputs import Sink

from alerts.metrics import PipelineMetrics
from bench.report import publish
from bench.throughput import (
    StageTimes,
    Tally,
    TallySink,
    _loadavg,
    _time_flow,
    baseline_flow,
    bench_settings,
    run_monitor_once,
    validation_limits,
)
from detectors.features import build_features
from detectors.state import CustomerStateStore, StateUpdate
from flows.assess import shard_of
from flows.sources import JsonlFileSource
from riskwatch.contracts import RawRecord, Transaction
from riskwatch.parsing import ValidationLimits, parse_transaction
from riskwatch.services import start_redis

logger = logging.getLogger(__name__)

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "state.json"
STAGES = ("baseline", "features", "features_waiting", "monitor")
PROJECTED_CUSTOMERS = 10_000_000
SIM_SEED = 11
SIM_START = datetime(2026, 1, 5, tzinfo=UTC)


def entity_buckets(customers: int) -> int:
    """Entity buckets for this input: about 40 live entities each, as production would size them.

    This simulation leaves about 4.6 live entities (active within 8 days) per
    customer, so one bucket per 8 customers keeps every bucket well under the
    128 fields a listpack allows, and scales with the customers as the
    10-million projection assumes.
    """
    return max(1, customers // 8)


@dataclass
class HotPath:
    """Seconds spent in the state round trips and in the feature builder.

    Wall time, and the worker thread's own CPU time: the CPU time of
    ``apply`` is the Python side (the customers' fold, encoding, sending the
    script calls, reading their replies) without the wait for Redis and its
    scripts, and it swings less with the machine's load than the wall time
    does. Features are built as updates come (while Redis runs the batch's
    later calls): ``build`` is timed around each call of the builder (wall
    time, taken as its CPU time too: it never waits) and ``apply`` is the rest
    of the features step.
    """

    apply_seconds: float = 0.0
    build_seconds: float = 0.0
    apply_cpu_seconds: float = 0.0
    build_cpu_seconds: float = 0.0
    batches: int = 0
    entity_script_seconds: float = 0.0
    """Redis's own time in the entity script (INFO commandstats), beside the worker's."""
    blobs_written: int = 0
    """Customer blobs packed and compressed (one per customer per shard batch)."""
    blobs_read: int = 0
    """Customers read from Redis because the store did not hold them (a new one finds none)."""

    def add(self, apply: float, apply_cpu: float, build: float = 0.0) -> None:
        """Seconds of state store (wall, CPU) and of feature building (wall, taken as CPU)."""
        self.apply_seconds += apply
        self.apply_cpu_seconds += apply_cpu
        self.build_seconds += build
        self.build_cpu_seconds += build


#: What the features step emits per event: its feature dict.
Features = dict[str, Any]


class _WaitingFeatureLogic(StatefulBatchLogic[Transaction, Features, None]):
    """Each shard batch recorded and its features built before the step returns.

    The worker waits for the batch's last script call at its end, and Redis
    idles while the worker parses and folds the next batch: the
    ``features_waiting`` stage, beside the ``features`` stage's overlap.
    """

    def __init__(self, store: CustomerStateStore, tz: ZoneInfo, hot: HotPath) -> None:
        self._store, self._tz, self._hot = store, tz, hot

    def on_batch(self, values: list[Transaction]) -> tuple[list[Features], bool]:
        c0, t0 = time.thread_time(), time.perf_counter()
        built = _build(self._store.updates(values), values, self._tz, self._hot, c0, t0)
        self._hot.batches += 1
        return built, StatefulBatchLogic.RETAIN

    def snapshot(self) -> None:
        return None


#: How long a shard's sent batch may wait for the shard's next batch before its
#: features are built anyway (an idle shard's last batch).
FLUSH_AFTER = timedelta(milliseconds=100)


class _FeatureLogic(StatefulBatchLogic[Transaction, Features, tuple[Features, ...]]):
    """A shard batch is sent when it comes and its features built when the shard's next comes.

    ``CustomerStateStore.begin`` folds the batch and sends its script calls;
    the step returns at once with the features of the shard's previous batch,
    whose replies came long before. Redis records a batch while the worker
    goes on with the other shards' batches and the next input, instead of
    each waiting for the other at every batch's end. A sent batch is
    finished by the shard's next batch, by the end of the input, FLUSH_AFTER
    later, or by a snapshot: Bytewax's snapshot is taken once the input up
    to it is consumed, so a batch sent before it is finished then and its
    outputs kept in the snapshot until they are emitted (after a restart
    too), rather than replayed. What a crash between two snapshots costs:
    the input since the last one is replayed, as for any step, and Redis
    takes its events as duplicates (nothing is counted twice), each assessed
    on the state it made. Those events had been emitted once before the
    crash, except the last batch each shard had sent: its features are then
    emitted only as the duplicates' (a step that waits for each batch
    leaves only a batch interrupted mid-step so). Features a snapshot kept
    and the step emitted before the crash are emitted again after it, from
    the snapshot: the same features twice, as Bytewax's outputs are at least
    once.
    """

    def __init__(
        self,
        store: CustomerStateStore,
        tz: ZoneInfo,
        hot: HotPath,
        resume: tuple[Features, ...] | None = None,
    ) -> None:
        self._store, self._tz, self._hot = store, tz, hot
        self._sent: list[Transaction] = []
        self._coming: Iterator[StateUpdate] | None = None
        self._ready: list[Features] = list(resume or ())
        """Finished by a snapshot, not emitted yet."""

    def _send(self, values: list[Transaction]) -> None:
        c0, t0 = time.thread_time(), time.perf_counter()
        self._coming = self._store.begin(values)
        self._sent = values
        self._hot.add(time.perf_counter() - t0, time.thread_time() - c0)
        self._hot.batches += 1

    def _finish(self) -> list[Features]:
        """What is ready, and the sent batch's features (if any)."""
        built, self._ready = self._ready, []
        coming, self._coming = self._coming, None
        if coming is None:
            return built
        # Its replies came long ago: the updates are read, then the features built,
        # each in one loop (not one of each per event, as while Redis still runs
        # the later calls): each loop's code stays in the instruction cache.
        clock = time.perf_counter
        c0, t0 = time.thread_time(), clock()
        with closing(coming):
            updates = list(coming)
        c1, t1 = time.thread_time(), clock()
        tz = self._tz
        built.extend(
            [build_features(txn, u, tz) for txn, u in zip(self._sent, updates, strict=True)]
        )
        self._hot.add(t1 - t0, c1 - c0, clock() - t1)
        return built

    def on_batch(self, values: list[Transaction]) -> tuple[list[Features], bool]:
        built = self._finish()
        self._send(values)
        return built, StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[list[Features], bool]:
        return self._finish(), StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[list[Features], bool]:
        return self._finish(), StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        if self._coming is None and not self._ready:
            return None
        return datetime.now(UTC) + FLUSH_AFTER

    def snapshot(self) -> tuple[Features, ...]:
        self._ready = self._finish()
        return tuple(self._ready)


def _build(
    coming: Iterator[StateUpdate],
    values: list[Transaction],
    tz: ZoneInfo,
    hot: HotPath,
    c0: float,
    t0: float,
) -> list[Features]:
    """Each update's features as it comes (as the monitor builds them), timed into ``hot``.

    perf_counter per event, thread_time per batch (from ``c0``, ``t0``): a
    thread's CPU clock is a system call here (~0.7 us), a sizeable share of a
    feature build.
    """
    clock = time.perf_counter
    build = 0.0
    built = []
    with closing(coming):
        for txn, update in zip(values, coming, strict=True):
            b0 = clock()
            built.append(build_features(txn, update, tz))
            build += clock() - b0
    hot.add(clock() - t0 - build, time.thread_time() - c0 - build, build)
    return built


def features_flow(
    path: Path,
    batch_size: int,
    limits: ValidationLimits,
    store: CustomerStateStore,
    tz: ZoneInfo,
    shards: int,
    tally: Tally,
    hot: HotPath,
    waiting: bool = False,
    sink: Sink[Any] | None = None,
) -> Dataflow:
    """Parsing, the full state and every feature: the monitor without rules or model.

    ``waiting``: each shard batch finished before the step returns
    (_WaitingFeatureLogic), not at the shard's next batch (_FeatureLogic).
    ``sink``: where the (shard, feature dict) items go (default: counted into
    ``tally`` and dropped).
    """
    now = datetime.now(UTC)

    def parse_and_key(batch: list[RawRecord]) -> list[tuple[str, Transaction]]:
        # A batch per call, not op.map and op.key_on: two Python calls and two
        # generator steps per event fewer (~2k of its ~157k instructions).
        keyed = []
        for raw in batch:
            txn = parse_transaction(raw.payload, now, limits)
            keyed.append((shard_of(txn.customer_id, shards), txn))
        return keyed

    flow = Dataflow("bench_features")
    raw = op.input("file_in", flow, JsonlFileSource([path], PipelineMetrics(), batch_size))
    # raw: RawRecord
    keyed = op.flat_map_batch("parse", raw, parse_and_key)
    # keyed: (shard, Transaction) (the simulator's input is all valid)
    if waiting:
        built = op.stateful_batch("features", keyed, lambda _: _WaitingFeatureLogic(store, tz, hot))
    else:
        built = op.stateful_batch(
            "features", keyed, lambda resume: _FeatureLogic(store, tz, hot, resume)
        )
    # built: (shard, the feature dict of one event)
    op.output("discard", built, sink or TallySink(tally))
    return flow


@dataclass
class Input:
    path: Path
    events: int
    customers: int
    days: int


def write_input(path: Path, customers: int, days: int) -> Input:
    from simulator import SimulationConfig, simulate

    config = SimulationConfig(seed=SIM_SEED, customers=customers, days=days, start=SIM_START)
    seen: set[str] = set()
    n = 0
    with path.open("wb") as out:
        for event in simulate(config):
            out.write(orjson.dumps(event.txn.to_json_dict()) + b"\n")
            seen.add(event.txn.customer_id)
            n += 1
    return Input(path, n, len(seen), days)


def memory_by_owner(client: redis.Redis) -> dict[str, int]:
    """Bytes (MEMORY USAGE, exact) of customer keys and of entity keys."""
    out = {"customer": 0, "entity": 0}
    for k in client.scan_iter(count=1000):
        owner = "entity" if b"|" in k.split(b"}")[0] else "customer"
        out[owner] += int(client.memory_usage(k, samples=0) or 0)
    return out


@dataclass
class Measurements:
    data: Input
    repeat: int
    times: dict[str, StageTimes] = field(default_factory=lambda: {s: StageTimes() for s in STAGES})
    hot: list[HotPath] = field(default_factory=list)
    used_memory: int = 0
    by_owner: dict[str, int] = field(default_factory=dict)
    keys: int = 0
    load_before: float | None = None
    trip_events: int = 0
    """Most events per state script call of the ``features`` stage (a whole shard batch)."""
    waiting_trip_events: int = 0
    """Most events per call of the ``features_waiting`` stage (state.trip_events)."""
    held_customers: int = 0
    """Decoded customer states the store keeps between batches (its LRU's capacity)."""


def run_benchmark(
    customers: int,
    days: int,
    repeat: int,
    workdir: Path,
    compare_trip_events: Sequence[int] = (),
    held_customers: int | None = None,
) -> dict[str, Any]:
    m_load = _loadavg()
    data = write_input(workdir / "transactions.jsonl", customers, days)
    logger.info("input: %d events, %d customers, %d days", data.events, data.customers, days)
    m = Measurements(data, repeat, load_before=m_load)
    service = start_redis(workdir / "redis")
    try:
        url = f"redis://{service.address}/0"
        client = redis.Redis.from_url(url)
        settings = bench_settings(workdir, data.path, url, "bench")
        limits = validation_limits(settings)
        tz = ZoneInfo(settings.timezone)
        s = settings.state
        if held_customers is None:
            held_customers = s.held_customers
        m.held_customers = held_customers
        # The overlapped stage sends a shard batch in one call: with Redis running a
        # batch while the worker does the others, calls within a batch have nothing
        # left to hide, and each call decodes and rewrites its entities and customers
        # again. The waiting stage pipelines calls of state.trip_events, as the
        # monitor does.
        m.trip_events, m.waiting_trip_events = settings.flow.batch_size, s.trip_events

        stores: list[CustomerStateStore] = []

        def features(
            trip_events: int, tally: Tally, hot: HotPath, waiting: bool = False
        ) -> Dataflow:
            store = CustomerStateStore(
                client, "bench", s.dedup_horizon_seconds, s.ttl_seconds,
                s.allowed_lateness_seconds, held_customers=held_customers,
                entity_buckets=entity_buckets(data.customers), trip_events=trip_events,
            )  # fmt: skip
            stores.append(store)
            return features_flow(
                data.path, settings.flow.batch_size, limits, store, tz, settings.flow.shards,
                tally, hot, waiting,
            )  # fmt: skip

        for round_no in range(repeat):
            tally = Tally()
            flow = baseline_flow(data.path, settings.flow.batch_size, tally)
            m.times["baseline"].add(*_time_flow(flow, tally))

            client.flushall()
            client.slowlog_reset()
            before = _state_memory(client)
            tally, hot = Tally(), HotPath()
            flow = features(m.trip_events, tally, hot)
            client.config_resetstat()
            m.times["features"].add(*_time_flow(flow, tally))
            hot.entity_script_seconds = _script_seconds(client)
            hot.blobs_written, hot.blobs_read = stores[-1].blobs_written, stores[-1].blobs_read
            m.hot.append(hot)
            client.slowlog_reset()  # not state: see the module's docstring
            m.used_memory = _state_memory(client) - before
            m.by_owner = memory_by_owner(client)
            m.keys = int(client.dbsize())

            client.flushall()
            tally = Tally()
            flow = features(m.waiting_trip_events, tally, HotPath(), waiting=True)
            m.times["features_waiting"].add(*_time_flow(flow, tally))

            for trip_events in compare_trip_events:
                client.flushall()
                tally = Tally()
                flow = features(trip_events, tally, HotPath())
                stage = f"features_trip_{trip_events}"
                m.times.setdefault(stage, StageTimes()).add(*_time_flow(flow, tally))

            run = run_monitor_once(workdir / f"monitor-{round_no}", data.path, url, client)
            m.times["monitor"].add(run.summary.seconds, run.summary.read)
            logger.info(
                "round %d/%d: %s", round_no + 1, repeat,
                ", ".join(f"{n} {m.times[n].rates[-1]:,.0f}/s" for n in STAGES),
            )  # fmt: skip
        client.close()
    finally:
        service.stop()
    return build_report(m)


def _state_memory(client: redis.Redis) -> int:
    """``used_memory`` once the pool's connections are closed.

    A connection's query buffer stays allocated (tens of KB after a script
    call) while it is open, and the features stage keeps one per shard with
    a batch in flight: closed, those buffers do not count as the customers'.
    """
    client.connection_pool.disconnect()
    return int(client.info("memory")["used_memory"])


def _script_seconds(client: redis.Redis) -> float:
    """Seconds Redis spent running scripts since the last CONFIG RESETSTAT.

    In the ``features`` stage the only script is the entity script.
    """
    stats = client.info("commandstats")
    usec = sum(int(stats.get(f"cmdstat_{c}", {}).get("usec", 0)) for c in ("eval", "evalsha"))
    return usec / 1e6


def build_report(m: Measurements) -> dict[str, Any]:
    baseline = m.times["baseline"].median_rate
    stages = {
        name: {
            "events_per_second": round(t.median_rate, 1),
            "ratio_to_baseline": round(t.median_rate / baseline, 4) if baseline else None,
            "best_events_per_second": round(t.best_rate, 1),
            "runs_events_per_second": [round(r, 1) for r in t.rates],
            "runs_events": t.events,
        }
        for name, t in m.times.items()
    }
    feature_seconds = m.times["features"].seconds
    events = sum(m.times["features"].events)
    hot = {
        "apply_share": round(sum(h.apply_seconds for h in m.hot) / sum(feature_seconds), 3),
        "build_features_share": round(
            sum(h.build_seconds for h in m.hot) / sum(feature_seconds), 3
        ),
        "apply_microseconds_per_event": round(
            1e6 * sum(h.apply_seconds for h in m.hot) / sum(m.times["features"].events), 1
        ),
        "entity_script_microseconds_per_event": round(
            1e6 * sum(h.entity_script_seconds for h in m.hot) / sum(m.times["features"].events), 1
        ),
        "build_features_microseconds_per_event": round(
            1e6 * sum(h.build_seconds for h in m.hot) / sum(m.times["features"].events), 1
        ),
        "apply_cpu_microseconds_per_event": round(
            1e6 * sum(h.apply_cpu_seconds for h in m.hot) / events, 1
        ),
        "build_features_cpu_microseconds_per_event": round(
            1e6 * sum(h.build_cpu_seconds for h in m.hot) / events, 1
        ),
        "held_customers": m.held_customers,
        "customer_blobs_written_per_event": round(sum(h.blobs_written for h in m.hot) / events, 3),
        "customer_blobs_read_per_event": round(sum(h.blobs_read for h in m.hot) / events, 3),
    }
    customers = m.data.customers
    per_customer = m.used_memory / customers
    owner = {k: round(v / customers, 1) for k, v in m.by_owner.items()}
    return {
        "benchmark": "state",
        "input": {
            "events": m.data.events,
            "customers": customers,
            "days": m.data.days,
            "generator": "simulator",
        },
        "repeat": m.repeat,
        "statistic": "median of runs",
        "stages": stages,
        "goal_features_events_per_second": 30_000,
        "trip_events": m.trip_events,
        "waiting_trip_events": m.waiting_trip_events,
        "hot_path": hot,
        "redis": {
            "used_memory_bytes": m.used_memory,
            "keys": m.keys,
            "bytes_per_customer": round(per_customer, 1),
            "memory_usage_per_customer_by_owner": owner,
            "goal_bytes_per_customer": 2048,
            "projected_bytes_for_10m_customers": round(per_customer * PROJECTED_CUSTOMERS),
            "projected_gib_for_10m_customers": round(per_customer * PROJECTED_CUSTOMERS / 2**30, 1),
            "note": "used_memory after a features run from a flushed Redis; by owner: the sum of "
            "MEMORY USAGE of customer keys and of entity keys, per customer",
        },
        "machine": {"loadavg_1m_before": m.load_before, "loadavg_1m_after": _loadavg()},
    }


def render_table(report: dict[str, Any]) -> str:
    data = report["input"]
    lines = [
        f"riskwatch state: {data['events']:,} events, {data['customers']:,} customers, "
        f"{data['days']} days, {report['repeat']} round(s)",
        "",
        f"{'stage':<20}{'median/s':>10}{'vs base':>9}{'best/s':>10}",
    ]
    for name, stage in report["stages"].items():
        lines.append(
            f"{name:<20}{stage['events_per_second']:>10,.0f}"
            f"{stage['ratio_to_baseline'] or 0:>9.3f}{stage['best_events_per_second']:>10,.0f}"
        )
    hot, red = report["hot_path"], report["redis"]
    owner = red["memory_usage_per_customer_by_owner"]
    lines += [
        "",
        f"features hot path (at most {report['trip_events']} events per state call; "
        f"features_waiting {report['waiting_trip_events']}): apply "
        f"{hot['apply_microseconds_per_event']} us/event "
        f"({hot['apply_share']:.0%}), build_features "
        f"{hot['build_features_microseconds_per_event']} us/event "
        f"({hot['build_features_share']:.0%}); goal "
        f"{report['goal_features_events_per_second']:,}/s",
        f"  worker thread CPU: apply {hot['apply_cpu_microseconds_per_event']} us/event "
        f"(the rest of apply waits for Redis), build_features "
        f"{hot['build_features_cpu_microseconds_per_event']} us/event",
        f"  Redis, beside the worker: entity script "
        f"{hot['entity_script_microseconds_per_event']} us/event",
        f"  customer blobs per event: {hot['customer_blobs_written_per_event']} written, "
        f"{hot['customer_blobs_read_per_event']} read (the store holds "
        f"{hot['held_customers']:,} customers)",
        f"redis: {red['bytes_per_customer']:,.0f} bytes per active customer "
        f"(customer keys {owner.get('customer', 0):,.0f}, entity keys "
        f"{owner.get('entity', 0):,.0f}); goal {red['goal_bytes_per_customer']:,}",
        f"       10 million customers: {red['projected_gib_for_10m_customers']:,} GiB",
        f"machine load 1m: {report['machine']['loadavg_1m_before']} -> "
        f"{report['machine']['loadavg_1m_after']}",
    ]
    return "\n".join(lines)


def _at_least_one(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.state", description=__doc__)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--held-customers",
        type=_at_least_one,
        metavar="N",
        help="decoded customer states the features stages' store keeps between batches "
        "(default: state.held_customers; the monitor stage always runs with that): a worker "
        "whose customers far outnumber N reads and decodes a blob per event, as at a bank",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--compare-trip-events",
        type=int,
        nargs="*",
        default=[],
        metavar="N",
        help="also run the features stage with calls of at most N events (stage features_trip_N)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    workdir = Path(tempfile.mkdtemp(prefix="riskwatch-bench-state-"))
    try:
        report = run_benchmark(
            args.customers, args.days, args.repeat, workdir, args.compare_trip_events,
            args.held_customers,
        )  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    publish(report, args.out, render_table(report))
    return report


if __name__ == "__main__":
    main()
