"""How fast the simulator writes traffic to a file, on one core, beside a baseline.

Run it with ``make bench-sim`` or::

    .venv/bin/python -m bench.simulator [--customers N] [--days D] [--repeat R] [--out PATH]

The goal (issue 3) is at least 100,000 events/s to a file on one core, so the
simulator is never what limits a test. An absolute figure on a shared,
noisy machine says as much about the neighbours as about the simulator, so
each round also runs a baseline that does the least that writing the same
file can take: ``orjson.dumps`` of the same transactions, already built as
dicts, one line each, to a file. The ratio of the simulator to that
baseline moves when the simulator changes, much less when the machine is
busy. Rates are given per CPU second of this process (one core; what the
goal means, and steadier than wall time when neighbours load the machine)
and per wall second. Stages run in ``--repeat`` interleaved rounds (baseline, wire,
objects, baseline, ...); the median and the best run are reported (load
only ever slows a run down). Nothing here asserts a speed.

* ``baseline``: pre-built transaction dicts → orjson.dumps → file
* ``wire``: :func:`simulator.simulate_wire` → :class:`simulator.JsonlSink`
  (transactions and labels files), what ``riskwatch simulate --out`` does
* ``objects``: :func:`simulator.simulate` (``Transaction`` and ``Label``
  objects) → the same sink, the slower path for in-process consumers

The JSON report goes to stdout and to ``--out``; a readable table to stderr.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from simulator import JsonlSink, SimulationConfig, simulate, simulate_wire, write_events
from simulator.sinks import FILE_BATCH

DEFAULT_CUSTOMERS = 5_000
DEFAULT_DAYS = 14
DEFAULT_REPEAT = 3
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "simulator.json"
GOAL_EVENTS_PER_SECOND = 100_000
STAGES = ("baseline", "wire", "objects")


def _baseline(records: list[dict[str, Any]], directory: Path) -> int:
    dumps = orjson.dumps
    with (directory / "baseline.jsonl").open("wb") as out:
        write = out.write
        for record in records:
            write(dumps(record) + b"\n")
    return len(records)


def _wire(config: SimulationConfig, directory: Path) -> int:
    sink = JsonlSink.to_files(directory / "wire.jsonl", directory / "wire-labels.jsonl")
    return write_events(simulate_wire(config), sink, batch=FILE_BATCH).transactions


def _objects(config: SimulationConfig, directory: Path) -> int:
    sink = JsonlSink.to_files(directory / "objects.jsonl", directory / "objects-labels.jsonl")
    return write_events(simulate(config), sink, batch=FILE_BATCH).transactions


def _timed(run: Callable[[], int]) -> tuple[int, float, float]:
    """Events, wall seconds, and CPU seconds of this process."""
    cpu, wall = time.process_time(), time.perf_counter()
    events = run()
    return events, time.perf_counter() - wall, time.process_time() - cpu


def measure(config: SimulationConfig, repeat: int, directory: Path) -> dict[str, Any]:
    records = [
        orjson.loads(e.txn) for e in simulate_wire(config)
    ]  # the baseline's input: the same transactions, as dicts
    runs: dict[str, list[float]] = {stage: [] for stage in STAGES}
    cpu_runs: dict[str, list[float]] = {stage: [] for stage in STAGES}
    counts: dict[str, set[int]] = {stage: set() for stage in STAGES}
    for _ in range(repeat):
        for stage, run in (
            ("baseline", lambda: _baseline(records, directory)),
            ("wire", lambda: _wire(config, directory)),
            ("objects", lambda: _objects(config, directory)),
        ):
            events, seconds, cpu = _timed(run)
            runs[stage].append(events / seconds)
            cpu_runs[stage].append(events / max(cpu, 1e-9))
            counts[stage].add(events)
    base = statistics.median(cpu_runs["baseline"])
    stages = {
        stage: {
            "events_per_cpu_second": round(statistics.median(cpu_runs[stage])),
            "events_per_second": round(statistics.median(rates)),
            "best_events_per_second": round(max(rates)),
            "ratio_to_baseline": round(statistics.median(cpu_runs[stage]) / base, 3),
            "runs_events_per_second": [round(r) for r in rates],
            "runs_events_per_cpu_second": [round(r) for r in cpu_runs[stage]],
            "events": sorted(counts[stage]),
        }
        for stage, rates in runs.items()
    }
    wire = stages["wire"]
    return {
        "config": {
            "customers": config.customers,
            "days": config.days,
            "seed": config.seed,
            "repeat": repeat,
        },
        "events": len(records),
        "stages": stages,
        "goal_events_per_second": GOAL_EVENTS_PER_SECOND,
        "wire_meets_goal": wire["events_per_cpu_second"] >= GOAL_EVENTS_PER_SECOND,
        "wire_share_of_goal": round(wire["events_per_cpu_second"] / GOAL_EVENTS_PER_SECOND, 3),
        "machine": {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "load_1m": round(os.getloadavg()[0], 2),
        },
    }


def _table(report: dict[str, Any]) -> str:
    lines = [
        f"simulator to a file: {report['events']:,} events "
        f"({report['config']['customers']:,} customers x {report['config']['days']} days), "
        f"{report['config']['repeat']} rounds, load {report['machine']['load_1m']}",
        f"  {'stage':<10} {'ev/cpu-s':>10} {'x baseline':>11} {'wall ev/s':>10} {'best wall':>10}",
    ]
    for stage, row in report["stages"].items():
        lines.append(
            f"  {stage:<10} {row['events_per_cpu_second']:>10,} {row['ratio_to_baseline']:>11.2f}"
            f" {row['events_per_second']:>10,} {row['best_events_per_second']:>10,}"
        )
    verdict = "meets" if report["wire_meets_goal"] else "misses"
    lines.append(
        f"  goal {report['goal_events_per_second']:,} ev/s: wire {verdict} it "
        f"({report['wire_share_of_goal']:.0%} of the goal, median events per CPU second)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.simulator", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    config = SimulationConfig(seed=7, customers=args.customers, days=args.days)
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as scratch:
        report = measure(config, args.repeat, Path(scratch))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    args.out.write_bytes(data + b"\n")
    sys.stdout.write(data.decode() + "\n")
    print(_table(report), file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
