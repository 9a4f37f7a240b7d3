"""Per-event cost of parsing and of building features, each beside a trivial baseline.

Run it with::

    .venv/bin/python -m bench.hotpath [--customers N] [--days D] [--repeat R]
                                      [--callgrind-events E] [--out PATH]

The same simulated input as bench/state.py (seed 11, 300 customers, 35 days
by default) is rendered to its JSON lines, parsed once and run through
:meth:`CustomerStateStore.apply` on a private Redis (bench.state's batches),
so that the feature builder sees the state updates the monitor would give
it. Then four stages run over the same events, in interleaved rounds, timed
as process CPU time (these machines are shared; CPU time swings less with
the load than wall time):

* ``decode``: ``orjson.loads`` of each record, the yardstick for ``parse``
  (the least any parser of these bytes costs);
* ``parse``: :func:`riskwatch.parsing.parse_transaction` (decode, validate,
  build the Transaction);
* ``dict_floor``: one ``dict(zip(names, values))`` of as many keys as a
  feature dict, from prebuilt tuples, the yardstick for ``build_features``
  (the least any builder of a fresh feature dict costs);
* ``build_features``: :func:`detectors.features.build_features`.

The median over rounds is reported as µs per event and as a ratio to its
yardstick. With ``--callgrind-events E`` (E > 0, needs valgrind) each stage
also runs under ``valgrind --tool=callgrind`` over the first E events, once
with one pass and once with two, from a pickle of the prepared input; the
difference is one pass's instructions, so per event without
the interpreter's start-up and the preparation (load-independent, unlike the
times). Nothing is asserted about speed (see bench/throughput.py on why).
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from bench.report import publish
from detectors.features import build_features
from detectors.state import StateUpdate
from riskwatch.contracts import Transaction
from riskwatch.parsing import ValidationLimits, parse_transaction

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "hotpath.json"
STAGES = ("decode", "parse", "dict_floor", "build_features")
#: Each measured stage and the yardstick it is reported against.
YARDSTICKS = {"parse": "decode", "build_features": "dict_floor"}


@dataclass
class Prepared:
    """The bench input at every step: bytes, parsed transactions, their state updates."""

    payloads: list[bytes]
    txns: list[Transaction]
    updates: list[StateUpdate]
    now: datetime
    limits: ValidationLimits
    tz: ZoneInfo

    def head(self, events: int) -> Prepared:
        return Prepared(
            self.payloads[:events], self.txns[:events], self.updates[:events],
            self.now, self.limits, self.tz,
        )  # fmt: skip


def prepare(customers: int, days: int, workdir: Path) -> Prepared:
    """Simulate, render, parse and fold the input (not timed)."""
    # Imported here, not at the top: the callgrind children (--replay) start
    # faster without the flow, Redis and simulator modules.
    import redis

    from bench.entity_script import SIM_SEED, SIM_START
    from bench.throughput import bench_settings, validation_limits
    from detectors.state import CustomerStateStore
    from flows.assess import shard_of
    from riskwatch.services import start_redis
    from simulator import SimulationConfig, simulate

    config = SimulationConfig(seed=SIM_SEED, customers=customers, days=days, start=SIM_START)
    payloads = [orjson.dumps(e.txn.to_json_dict()) for e in simulate(config)]
    now = datetime.now(UTC)
    service = start_redis(workdir / "redis")
    try:
        url = f"redis://{service.address}/0"
        settings = bench_settings(workdir, workdir / "unused.jsonl", url, "bench")
        limits = validation_limits(settings)
        txns = [parse_transaction(p, now, limits) for p in payloads]
        s = settings.state
        client = redis.Redis.from_url(url)
        store = CustomerStateStore(
            client, "bench", s.dedup_horizon_seconds, s.ttl_seconds, s.allowed_lateness_seconds
        )
        updates: dict[int, StateUpdate] = {}
        size, shards = settings.flow.batch_size, settings.flow.shards
        # As bench.state's flow cuts the input: a batch of records, one apply per shard.
        for start in range(0, len(txns), size):
            by_shard: dict[int, list[int]] = {}
            for i in range(start, min(start + size, len(txns))):
                by_shard.setdefault(shard_of(txns[i].customer_id, shards), []).append(i)
            for indices in by_shard.values():
                got = store.apply([txns[i] for i in indices])
                updates.update(zip(indices, got, strict=True))
        client.close()
    finally:
        service.stop()
    return Prepared(payloads, txns, [updates[i] for i in range(len(txns))], now, limits,
                    ZoneInfo(settings.timezone))  # fmt: skip


def stage_runner(name: str, p: Prepared) -> Callable[[], None]:
    """One pass of a stage over every event (results dropped as they come)."""
    now, limits, tz = p.now, p.limits, p.tz

    if name == "decode":

        def run() -> None:
            loads = orjson.loads
            for b in p.payloads:
                loads(b)

    elif name == "parse":

        def run() -> None:
            for b in p.payloads:
                parse_transaction(b, now, limits)

    elif name == "dict_floor":
        built = (build_features(t, u, tz) for t, u in zip(p.txns, p.updates, strict=True))
        shapes = [(tuple(f), tuple(f.values())) for f in built]

        def run() -> None:
            for names, values in shapes:
                dict(zip(names, values, strict=True))

    elif name == "build_features":
        pairs = list(zip(p.txns, p.updates, strict=True))

        def run() -> None:
            for t, u in pairs:
                build_features(t, u, tz)

    else:
        msg = f"unknown stage {name!r}"
        raise ValueError(msg)
    return run


def cpu_rounds(p: Prepared, repeat: int) -> dict[str, list[float]]:
    """CPU seconds of each stage per round, the stages interleaved within a round."""
    runners = {name: stage_runner(name, p) for name in STAGES}
    seconds: dict[str, list[float]] = {name: [] for name in STAGES}
    for _ in range(repeat):
        for name, run in runners.items():
            start = time.process_time()
            run()
            seconds[name].append(time.process_time() - start)
    return seconds


def callgrind_instructions(pickled: Path, stage: str, passes: int, workdir: Path) -> int:
    """Instructions of a whole ``--replay`` process under callgrind."""
    out = workdir / f"callgrind-{stage}-{passes}.out"
    argv = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
        "-m", "bench.hotpath", "--replay", str(pickled), "--stage", stage,
        "--passes", str(passes),
    ]  # fmt: skip
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    msg = f"no instruction total in {out}"
    raise RuntimeError(msg)


def instructions_per_event(p: Prepared, workdir: Path) -> dict[str, int]:
    """Each stage's instructions per event: two passes minus one pass."""
    pickled = workdir / "prepared.pickle"
    pickled.write_bytes(pickle.dumps(p))
    out = {}
    for stage in STAGES:
        one = callgrind_instructions(pickled, stage, 1, workdir)
        two = callgrind_instructions(pickled, stage, 2, workdir)
        out[stage] = round((two - one) / len(p.payloads))
    return out


def build_report(
    p: Prepared, customers: int, days: int, seconds: dict[str, list[float]],
    instructions: dict[str, int] | None, callgrind_events: int,
    load_before: float | None, load_after: float | None,
) -> dict[str, Any]:  # fmt: skip
    events = len(p.payloads)
    us = {name: 1e6 * statistics.median(s) / events for name, s in seconds.items()}
    stages: dict[str, Any] = {}
    for name in STAGES:
        stage: dict[str, Any] = {
            "cpu_microseconds_per_event": round(us[name], 2),
            "runs_cpu_microseconds_per_event": [round(1e6 * s / events, 2) for s in seconds[name]],
        }
        if name in YARDSTICKS:
            stage["yardstick"] = YARDSTICKS[name]
            stage["ratio_to_yardstick"] = round(us[name] / us[YARDSTICKS[name]], 2)
        if instructions is not None:
            stage["instructions_per_event"] = instructions[name]
        stages[name] = stage
    return {
        "benchmark": "hotpath",
        "input": {
            "events": events,
            "customers": customers,
            "days": days,
            "generator": "simulator",
            "callgrind_events": callgrind_events,
        },
        "statistic": "median of rounds, process CPU time",
        "repeat": len(seconds["parse"]),
        "stages": stages,
        "machine": {"loadavg_1m_before": load_before, "loadavg_1m_after": load_after},
    }


def render_table(report: dict[str, Any]) -> str:
    lines = [
        f"riskwatch hot path: {report['input']['events']:,} events, "
        f"{report['repeat']} round(s), CPU µs per event (median)",
        "",
        f"{'stage':<16}{'µs/event':>10}{'vs yardstick':>20}{'instr/event':>13}",
    ]
    for name, stage in report["stages"].items():
        ratio = (
            f"{stage['ratio_to_yardstick']:.2f}x {stage['yardstick']}"
            if "yardstick" in stage
            else ""
        )
        instr = f"{stage['instructions_per_event']:,}" if "instructions_per_event" in stage else ""
        lines.append(
            f"{name:<16}{stage['cpu_microseconds_per_event']:>10.2f}{ratio:>20}{instr:>13}"
        )
    m = report["machine"]
    lines.append(f"machine load 1m: {m['loadavg_1m_before']} -> {m['loadavg_1m_after']}")
    return "\n".join(lines)


def replay(pickled: Path, stage: str, passes: int) -> None:
    """The callgrind child: load the prepared input and run one stage ``passes`` times."""
    p = pickle.loads(pickled.read_bytes())  # our own file, just written
    run = stage_runner(stage, p)
    for _ in range(passes):
        run()


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--callgrind-events", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--replay", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--passes", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.replay is not None:
        replay(args.replay, args.stage, args.passes)
        return None
    from bench.throughput import _loadavg

    load_before = _loadavg()
    workdir = Path(tempfile.mkdtemp(prefix="riskwatch-bench-hotpath-"))
    try:
        p = prepare(args.customers, args.days, workdir)
        seconds = cpu_rounds(p, args.repeat)
        instructions = None
        if args.callgrind_events > 0:
            instructions = instructions_per_event(p.head(args.callgrind_events), workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = build_report(
        p, args.customers, args.days, seconds, instructions,
        min(args.callgrind_events, len(p.payloads)), load_before, _loadavg(),
    )  # fmt: skip
    publish(report, args.out, render_table(report))
    return report


if __name__ == "__main__":
    main()
