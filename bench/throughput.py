"""Throughput of the monitor, as ratios to a trivial Bytewax flow on the same input.

Run it with ``make bench`` or::

    .venv/bin/python -m bench.throughput [--events N] [--repeat R] [--out PATH]

Why ratios: these machines are shared and noisy, so an absolute events/s
figure says as much about the neighbours as about riskwatch. Every stage
reads the same JSONL file, in the same process, during the same run, and is
reported next to a baseline flow that does the least a keyed Bytewax flow can
do (decode JSON, key by customer, count per key, discard). The ratio of a
stage to that baseline moves when riskwatch changes, much less when the
machine is busy. That is also why nothing here asserts a speed: the smoke
test (``tests/test_bench_smoke.py``) only checks that the report is complete.

The stages run in ``--repeat`` interleaved rounds (baseline, parse, monitor,
baseline, ...) so that a burst of load on the machine hits every stage alike;
the two short stages run :data:`SHORT_STAGE_RUNS` times a round. The median
rate is reported, and the best run's too (load only ever slows a run down):

* ``baseline``: JSONL source → orjson.loads → key by customer → count per key → discard
* ``parse``: JSONL source → :func:`riskwatch.parsing.parse_transaction` → discard
* ``monitor``: :func:`riskwatch.runner.run_monitor` over the file, against a
  private Redis (flushed before each run, fresh namespace) and a fresh SQLite
  case store per run

Besides the rates, the report carries the alerts raised, the Redis memory the
monitor's state takes (in all, and per active customer), the process's peak
RSS and the machine's core count and load. The JSON goes to stdout and to
``--out``; a readable table goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import bytewax.operators as op
import orjson
import redis
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import run_main

from alerts.metrics import PipelineMetrics
from bench.report import publish
from flows.sources import JsonlFileSource
from riskwatch.contracts import RawRecord, Transaction
from riskwatch.gc_policy import collecting_for_batches
from riskwatch.parsing import InvalidRecord, ValidationLimits, parse_transaction
from riskwatch.runner import RunSummary, run_monitor
from riskwatch.services import start_redis
from riskwatch.settings import Settings, load_settings

logger = logging.getLogger(__name__)

DEFAULT_EVENTS = 100_000
DEFAULT_REPEAT = 3
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "throughput.json"
STAGES = ("baseline", "parse", "monitor")
#: The baseline and parse stages take about a second, so one burst of load from
#: a neighbour can halve a single run; they run this many times per round so
#: that their median rests on more samples (the monitor runs once per round).
SHORT_STAGE_RUNS = 3

#: 14 days, as in ``riskwatch demo``: longer than the 3-day dedup horizon, so
#: Redis holds the steady-state amount of history per customer.
SIM_DAYS = 14
SIM_SEED = 7
SIM_START = datetime(2026, 1, 5, tzinfo=UTC)
#: The simulator's observed mean, used only to size the population; a run that
#: falls short is simulated again with more customers.
_EVENTS_PER_CUSTOMER_DAY = 3.0
_MAX_SIM_CUSTOMERS = 999_999


# --- input -------------------------------------------------------------------


@dataclass(frozen=True)
class InputFile:
    """The JSONL file every stage reads, and what is in it."""

    path: Path
    events: int
    customers: int
    generator: str
    """``simulator`` (the project's), or ``plain`` when it cannot be imported."""
    size_bytes: int


def write_input(path: Path, events: int) -> InputFile:
    """Write ``events`` transactions to ``path``, from the simulator if there is one.

    The simulator gives realistic traffic (several channels, bursts, injected
    fraud) and so realistic Redis state and alert rates; the plain fallback
    keeps the benchmark usable while the simulator is being worked on.
    """
    try:
        from simulator import SimulationConfig, simulate
    except ImportError as exc:
        logger.warning("the simulator is not importable (%s); writing plain transactions", exc)
        written, customers = _write(path, _plain_records(events), events)
        return InputFile(path, written, customers, "plain", path.stat().st_size)

    population = math.ceil(events / (_EVENTS_PER_CUSTOMER_DAY * SIM_DAYS) * 1.1)
    while True:
        population = max(1, min(population, _MAX_SIM_CUSTOMERS))
        config = SimulationConfig(
            seed=SIM_SEED, customers=population, days=SIM_DAYS, start=SIM_START
        )
        records = (event.txn.to_json_dict() for event in simulate(config))
        written, customers = _write(path, records, events)
        if written == events or population == _MAX_SIM_CUSTOMERS:
            return InputFile(path, written, customers, "simulator", path.stat().st_size)
        # Too few: simulate more customers rather than more days, so that the
        # history held per customer stays that of a 14-day run.
        population *= 2


def _write(path: Path, records: Iterator[dict[str, Any]], limit: int) -> tuple[int, int]:
    """Stream at most ``limit`` records to ``path``; return (written, distinct customers)."""
    customers: set[str] = set()
    written = 0
    with path.open("wb") as out:
        for record in records:
            if written == limit:
                break
            customers.add(record["customer_id"])
            out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
            written += 1
    return written, len(customers)


def _plain_records(events: int) -> Iterator[dict[str, Any]]:
    """Valid everyday card purchases in time order, about 40 per customer."""
    customers = max(1, events // 40)
    step = timedelta(days=SIM_DAYS) / max(events, 1)
    for n in range(events):
        c = (n * 7919) % customers
        ts = SIM_START + step * n
        yield {
            "txn_id": f"B{n:09d}",
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "customer_id": f"C{c:06d}",
            "account_id": f"A{c:06d}",
            "channel": "pos",
            "direction": "debit",
            "kind": "purchase",
            "amount": f"{10 + (n * 37) % 400}.00",
            "currency": "CNY",
            "card_id": f"card-{c:06d}",
            "merchant_id": f"M-{n % 300:04d}",
            "mcc": ("5411", "5812", "5541", "5999")[n % 4],
        }


# --- the stages ----------------------------------------------------------------


@dataclass
class Tally:
    """What reached a counting sink; proves a stage really saw every event."""

    items: int = 0
    rejected: int = 0


class _TallyPartition(StatelessSinkPartition[Any]):
    def __init__(self, tally: Tally) -> None:
        self._tally = tally

    def write_batch(self, items: list[Any]) -> None:
        self._tally.items += len(items)
        self._tally.rejected += sum(isinstance(item, InvalidRecord) for item in items)


class TallySink(DynamicSink[Any]):
    """Count items and drop them: the cheapest sink that still checks the work."""

    def __init__(self, tally: Tally) -> None:
        self._tally = tally

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _TallyPartition:
        return _TallyPartition(self._tally)


def _loads(raw: RawRecord) -> dict[str, Any]:
    record: dict[str, Any] = orjson.loads(raw.payload)
    return record


def _customer_of(record: dict[str, Any]) -> str:
    return str(record["customer_id"])


def _count(seen: int | None, _record: dict[str, Any]) -> tuple[int, int]:
    n = (seen or 0) + 1
    return n, n


def baseline_flow(path: Path, batch_size: int, tally: Tally) -> Dataflow:
    """The least a keyed Bytewax flow can do with the input: the yardstick."""
    flow = Dataflow("bench_baseline")
    raw = op.input("file_in", flow, JsonlFileSource([path], PipelineMetrics(), batch_size))
    # raw: RawRecord
    records = op.map("loads", raw, _loads)
    # records: dict, one transaction
    keyed = op.key_on("by_customer", records, _customer_of)
    # keyed: (customer_id, dict)
    counted = op.stateful_map("count", keyed, _count)
    # counted: (customer_id, transactions seen so far)
    op.output("discard", counted, TallySink(tally))
    return flow


def parse_flow(path: Path, batch_size: int, limits: ValidationLimits, tally: Tally) -> Dataflow:
    """The baseline's source with the monitor's validation instead of a bare decode."""
    now = datetime.now(UTC)

    def parse(raw: RawRecord) -> Transaction | InvalidRecord:
        try:
            return parse_transaction(raw.payload, now, limits)
        except InvalidRecord as exc:
            return exc

    flow = Dataflow("bench_parse")
    raw = op.input("file_in", flow, JsonlFileSource([path], PipelineMetrics(), batch_size))
    # raw: RawRecord
    parsed = op.map("parse", raw, parse)
    # parsed: Transaction, or the InvalidRecord it raised (counted as rejected)
    op.output("discard", parsed, TallySink(tally))
    return flow


def bench_settings(workdir: Path, input_path: Path, redis_url: str, namespace: str) -> Settings:
    """The shipped defaults, pointed at the benchmark's file, Redis and SQLite only.

    The conventional environment variables are cleared so that a benchmark
    run on a configured machine never writes to a real Kafka or database.
    """
    return load_settings(
        data_dir=workdir,
        input={"source": "file", "paths": [input_path]},
        redis={"url": redis_url, "namespace": namespace},
        database={"url": f"sqlite:///{workdir / 'cases.db'}"},
        kafka={"brokers": None},
        flow={"workers": 1},
        redis_url_env=None,
        database_url_env=None,
        kafka_brokers_env=None,
    )


def validation_limits(settings: Settings) -> ValidationLimits:
    """The limits the monitor's parse step uses (as flows.monitor builds them)."""
    v = settings.validation
    return ValidationLimits(
        max_id_length=v.max_id_length,
        max_future=timedelta(seconds=v.max_future_seconds),
        max_amount=Decimal(v.max_amount),
    )


@dataclass
class MonitorRun:
    """One full monitor run and the Redis memory its state took."""

    summary: RunSummary
    redis_bytes: int
    redis_keys: int


def run_monitor_once(
    workdir: Path, input_path: Path, redis_url: str, client: redis.Redis
) -> MonitorRun:
    """Run the monitor from empty state, so every repeat does the same work."""
    workdir.mkdir(parents=True)
    settings = bench_settings(workdir, input_path, redis_url, f"bench{uuid.uuid4().hex[:8]}")
    # The Redis is ours alone: flushing makes the memory delta this run's state only.
    client.flushall()
    before = int(client.info("memory")["used_memory"])
    summary = run_monitor(settings)
    after = int(client.info("memory")["used_memory"])
    return MonitorRun(summary, after - before, int(client.dbsize()))


# --- measuring -----------------------------------------------------------------


@dataclass
class StageTimes:
    """Seconds and event counts of every run of one stage."""

    seconds: list[float] = field(default_factory=list)
    events: list[int] = field(default_factory=list)

    def add(self, seconds: float, events: int) -> None:
        self.seconds.append(seconds)
        self.events.append(events)

    @property
    def rates(self) -> list[float]:
        return [e / s if s > 0 else 0.0 for e, s in zip(self.events, self.seconds, strict=True)]

    @property
    def median_rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def best_rate(self) -> float:
        """The fastest run: load from neighbours only ever slows a run down."""
        return max(self.rates)


def _time_flow(flow: Dataflow, tally: Tally) -> tuple[float, int]:
    """Seconds of the run alone, as RunSummary.seconds times only the monitor's run.

    Every stage runs with the monitor's garbage-collection thresholds
    (riskwatch.gc_policy), the baselines too, so that ratios compare the flows.
    """
    with collecting_for_batches():
        started = time.perf_counter()
        run_main(flow)
        return time.perf_counter() - started, tally.items


def peak_rss_mib() -> float:
    """The process's peak resident set so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _usable_cpus() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


@dataclass
class Measurements:
    """Everything one benchmark run observed, before it is summarised."""

    data: InputFile
    repeat: int
    started_at: datetime
    load_before: float | None
    times: dict[str, StageTimes] = field(default_factory=lambda: {s: StageTimes() for s in STAGES})
    monitor_runs: list[MonitorRun] = field(default_factory=list)
    parse_rejected: int = 0
    peak_rss: dict[str, float] = field(default_factory=dict)
    """Peak RSS (MiB) so far at each milestone of the first round; peaks only grow,
    so later rounds would say nothing new."""


def run_benchmark(events: int, repeat: int, workdir: Path) -> dict[str, Any]:
    """Write the input, run every stage ``repeat`` times, and build the report."""
    load_before = _loadavg()
    started_at = datetime.now(UTC)
    rss_at_start = peak_rss_mib()
    data = write_input(workdir / "transactions.jsonl", events)
    logger.info("input: %d events, %d customers (%s)", data.events, data.customers, data.generator)
    m = Measurements(data, repeat, started_at, load_before)
    m.peak_rss["imports"] = rss_at_start
    m.peak_rss["input_written"] = peak_rss_mib()

    service = start_redis(workdir / "redis")
    try:
        redis_url = f"redis://{service.address}/0"
        client = redis.Redis.from_url(redis_url)
        try:
            settings = bench_settings(workdir, data.path, redis_url, "bench")
            batch_size = settings.flow.batch_size
            limits = validation_limits(settings)
            for round_no in range(repeat):
                for _ in range(SHORT_STAGE_RUNS):
                    tally = Tally()
                    flow = baseline_flow(data.path, batch_size, tally)
                    m.times["baseline"].add(*_time_flow(flow, tally))
                m.peak_rss.setdefault("baseline", peak_rss_mib())

                for _ in range(SHORT_STAGE_RUNS):
                    tally = Tally()
                    flow = parse_flow(data.path, batch_size, limits, tally)
                    m.times["parse"].add(*_time_flow(flow, tally))
                    m.parse_rejected = max(m.parse_rejected, tally.rejected)
                m.peak_rss.setdefault("parse", peak_rss_mib())

                run_dir = workdir / f"monitor-{round_no}"
                run = run_monitor_once(run_dir, data.path, redis_url, client)
                m.times["monitor"].add(run.summary.seconds, run.summary.read)
                m.monitor_runs.append(run)
                m.peak_rss.setdefault("monitor", peak_rss_mib())
                logger.info(
                    "round %d/%d: %s",
                    round_no + 1,
                    repeat,
                    ", ".join(f"{s} {m.times[s].rates[-1]:,.0f}/s" for s in STAGES),
                )
        finally:
            client.close()
    finally:
        service.stop()
    return build_report(m)


def build_report(m: Measurements) -> dict[str, Any]:
    """The JSON report: rates and ratios first, then what the monitor did and used."""
    data, times, runs = m.data, m.times, m.monitor_runs
    baseline = times["baseline"].median_rate
    baseline_best = times["baseline"].best_rate
    descriptions = {
        "baseline": "JSONL source, orjson.loads, key by customer, count per key, discard",
        "parse": "JSONL source, riskwatch.parsing.parse_transaction, discard",
        "monitor": "riskwatch.runner.run_monitor over the file (Redis state, rules, model, "
        "SQLite); seconds are its RunSummary.seconds",
    }
    stages = {
        name: {
            "description": descriptions[name],
            "events_per_second": round(t.median_rate, 1),
            "ratio_to_baseline": round(t.median_rate / baseline, 4) if baseline else None,
            "best_events_per_second": round(t.best_rate, 1),
            "best_ratio_to_baseline": round(t.best_rate / baseline_best, 4)
            if baseline_best
            else None,
            "runs_events_per_second": [round(r, 1) for r in t.rates],
            "runs_seconds": [round(s, 3) for s in t.seconds],
            "runs_events": t.events,
        }
        for name, t in times.items()
    }
    last = runs[-1]
    summary = last.summary
    return {
        "benchmark": "throughput",
        "started_at": m.started_at.isoformat(timespec="seconds"),
        "input": {
            "events": data.events,
            "customers": data.customers,
            "generator": data.generator,
            "size_bytes": data.size_bytes,
        },
        "repeat": m.repeat,
        "short_stage_runs_per_round": SHORT_STAGE_RUNS,
        "statistic": "median of runs; best_* is the fastest run of each stage",
        "stages": stages,
        "parse_rejected": m.parse_rejected,
        "monitor": {
            "read": summary.read,
            "processed": summary.processed,
            "duplicates": summary.duplicates,
            "dead_lettered": summary.dead_lettered,
            "alerts": summary.alerts,
            "alerts_in_store": summary.alerts_in_store,
            "cases_in_store": summary.cases_in_store,
            "balanced": summary.balanced,
            "alerts_per_run": [run.summary.alerts for run in runs],
        },
        "redis": {
            "used_memory_bytes": last.redis_bytes,
            "keys": last.redis_keys,
            "bytes_per_customer": round(last.redis_bytes / data.customers, 1)
            if data.customers
            else None,
            "note": "used_memory after the last monitor run minus before it, Redis flushed first",
        },
        "process": {
            "peak_rss_mib": round(peak_rss_mib(), 1),
            "peak_rss_mib_by_milestone": {k: round(v, 1) for k, v in m.peak_rss.items()},
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpus_usable": _usable_cpus(),
            "loadavg_1m_before": m.load_before,
            "loadavg_1m_after": _loadavg(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "bytewax": metadata.version("bytewax"),
        },
    }


# --- output --------------------------------------------------------------------


def render_table(report: dict[str, Any]) -> str:
    """The report for a person: rates, ratios, then the resources."""
    data = report["input"]
    lines = [
        f"riskwatch throughput: {data['events']:,} events, {data['customers']:,} customers "
        f"({data['generator']}), {report['repeat']} round(s)",
        "",
        f"{'stage':<10}{'median/s':>10}{'vs base':>9}{'slower':>8}"
        f"{'best/s':>10}{'vs base':>9}   runs: n, range/s",
    ]
    for name, stage in report["stages"].items():
        ratio = stage["ratio_to_baseline"] or 0.0
        slower = f"{1 / ratio:.1f}x" if ratio else "-"
        rates = stage["runs_events_per_second"]
        lines.append(
            f"{name:<10}{stage['events_per_second']:>10,.0f}{ratio:>9.3f}{slower:>8}"
            f"{stage['best_events_per_second']:>10,.0f}{stage['best_ratio_to_baseline'] or 0:>9.3f}"
            f"   {len(rates)}, {min(rates):,.0f}-{max(rates):,.0f}"
        )
    mon, red, proc, mach = report["monitor"], report["redis"], report["process"], report["machine"]
    per_customer = red["bytes_per_customer"]
    milestones = ", ".join(f"{k} {v:,.0f}" for k, v in proc["peak_rss_mib_by_milestone"].items())
    lines += [
        "",
        f"monitor: {mon['alerts']:,} alerts, {mon['cases_in_store']:,} cases, "
        f"{mon['dead_lettered']:,} dead letters, {mon['duplicates']:,} duplicates, "
        f"balanced={mon['balanced']}",
        f"redis:   {red['used_memory_bytes'] / 2**20:,.1f} MiB in {red['keys']:,} keys, "
        f"{per_customer:,.0f} bytes per active customer"
        if per_customer is not None
        else "redis:   no customers",
        f"process: peak RSS {proc['peak_rss_mib']:,.0f} MiB "
        f"(peak so far after each step of the first round: {milestones})",
        f"machine: {mach['cpu_count']} cores ({mach['cpus_usable']} usable), "
        f"load 1m {mach['loadavg_1m_before']} -> {mach['loadavg_1m_after']}",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.throughput",
        description="Events/s of riskwatch's stages as ratios to a trivial Bytewax flow.",
    )
    parser.add_argument(
        "--events", type=int, default=DEFAULT_EVENTS, help="transactions in the input"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        help=f"rounds; the monitor runs once a round, the short stages {SHORT_STAGE_RUNS} times",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON report"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (input file, cases)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the JSON to stdout and the table to stderr."""
    args = _parser().parse_args(argv)
    if args.events < 1 or args.repeat < 1:
        _parser().error("--events and --repeat must be at least 1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Progress of a run that takes minutes, without the monitor's own INFO chatter.
    logger.setLevel(logging.INFO)
    workdir = Path(tempfile.mkdtemp(prefix="riskwatch-bench-"))
    try:
        report = run_benchmark(args.events, args.repeat, workdir)
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    publish(report, args.out, render_table(report))
    return report


if __name__ == "__main__":
    main()
