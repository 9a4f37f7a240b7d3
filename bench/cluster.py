"""What crossing between processes costs: the monitor's routing on one and two processes.

Run it with::

    .venv/bin/python -m bench.cluster [--days D] [--shards S] [--out PATH]

Bytewax pickles every item a keyed step sends to a worker of another
process. The monitor therefore routes raw records to their customer's shard
before parsing them (``flows/operators.py``: ``route_by_customer``, then
``ParseOnOwner`` on the owning worker), so that what crosses is a tuple of
bytes and strings. This bench runs that front of the flow (read the file,
route, parse on the owner, a no-op keyed step standing in for the
assessment) over Handbook-mode transactions, on one process and on two,
and, for comparison, the order it replaced on two processes: parse on the
reading worker, then route the parsed ``Transaction`` objects. Each stage is
a fresh set of processes started with ``spawn``; CPU is each process's own
(user + system, its start-up included) and is reported as a ratio to the
one-process routed stage of the same run.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.operators import StatefulBatchLogic
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from bench.report import publish
from bench.throughput import _loadavg

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cluster.json"
STAGES = (("routed", 1), ("routed", 2), ("parsed_first", 2))
#: Far past the Handbook's dates: no transaction is refused as from the future.
NOW = datetime(2030, 1, 1, tzinfo=UTC)


class _Count(StatefulBatchLogic[Any, int, None]):
    """Stands in for the assessment: takes a shard's batch on its owner, emits its size."""

    def on_batch(self, values: list[Any]) -> tuple[list[int], bool]:
        return [len(values)], StatefulBatchLogic.RETAIN

    def snapshot(self) -> None:
        return None


class _Tally(DynamicSink[tuple[str, int]]):
    """Counts what each worker assessed, into a shared list by worker index."""

    def __init__(self, counts: list[int]) -> None:
        self._counts = counts

    def build(self, step_id: str, worker_index: int, worker_count: int) -> StatelessSinkPartition:
        counts = self._counts

        class Partition(StatelessSinkPartition[tuple[str, int]]):
            def write_batch(self, items: list[tuple[str, int]]) -> None:
                counts[worker_index] += sum(n for _, n in items)

        return Partition()


def front_flow(path: Path, stage: str, shards: int, counts: list[int]) -> Dataflow:
    """The monitor's front: read, route and parse (in ``stage``'s order), a no-op keyed step."""
    from alerts.metrics import PipelineMetrics
    from flows.assess import shard_of
    from flows.operators import ParseOnOwner, route_by_customer
    from flows.sources import JsonlFileSource
    from riskwatch.contracts import RawRecord
    from riskwatch.parsing import ValidationLimits, parse_transaction

    limits = ValidationLimits(max_future=timedelta(days=1), max_amount=Decimal("1e9"))
    flow = Dataflow("bench_cluster")
    raw = op.input("in", flow, JsonlFileSource([path], PipelineMetrics(), 1000))
    if stage == "routed":
        routed = op.map("route", raw, route_by_customer("txn", shards))
        keyed = op.stateful_batch("parse", routed, lambda _: ParseOnOwner(limits, lambda: NOW))
    else:

        def parse(record: RawRecord) -> Any:
            return parse_transaction(record.payload, NOW, limits)

        parsed = op.map("parse", raw, parse)
        keyed = op.key_on("route", parsed, lambda txn: shard_of(txn.customer_id, shards))
    op.output("tally", op.stateful_batch("assess", keyed, lambda _: _Count()), _Tally(counts))
    return flow


def _process(
    path: Path, stage: str, shards: int, index: int, addresses: list[str], out: Connection
) -> None:
    from bytewax.run import cli_main

    counts = [0] * len(addresses)
    flow = front_flow(path, stage, shards, counts)
    cli_main(flow, process_id=index, addresses=addresses if len(addresses) > 1 else None)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.send((usage.ru_utime + usage.ru_stime, counts[index]))
    out.close()


def run_stage(path: Path, stage: str, processes: int, shards: int) -> dict[str, Any]:
    from riskwatch.cluster import run_processes

    started = time.perf_counter()
    results = run_processes(
        _process,
        lambda index, addresses: (path, stage, shards, index, addresses),
        processes,
        f"bench-{stage}",
    )
    wall = time.perf_counter() - started
    return {
        "stage": stage,
        "processes": processes,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(sum(cpu for cpu, _ in results), 2),
        "cpu_seconds_by_process": [round(cpu, 2) for cpu, _ in results],
        "events_by_process": [n for _, n in results],
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from simulator.handbook import HandbookConfig, generate_handbook, write_handbook_files

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="Handbook days of input (default 30)")
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    load_before = _loadavg()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        path = Path(tmp) / "transactions.jsonl"
        data = generate_handbook(HandbookConfig(seed=0, days=args.days))
        events, _ = write_handbook_files(data, path, Path(tmp) / "labels.jsonl")
        stages = [run_stage(path, stage, n, args.shards) for stage, n in STAGES]
    base = stages[0]["cpu_seconds"]
    for stage in stages:
        stage["cpu_us_per_event"] = round(stage["cpu_seconds"] / events * 1e6, 1)
        stage["cpu_ratio_to_one_process"] = round(stage["cpu_seconds"] / base, 3)
        stage["balanced"] = sum(stage["events_by_process"]) == events
    report = {
        "input": {"generator": "simulator.handbook", "days": args.days, "events": events},
        "shards": args.shards,
        "stages": stages,
        "machine": {"loadavg_1m_before": load_before, "loadavg_1m_after": _loadavg()},
    }
    rows = [
        f"{s['stage']:<13} {s['processes']:>9} {s['wall_seconds']:>8.1f} {s['cpu_seconds']:>8.1f}"
        f" {s['cpu_us_per_event']:>10.1f} {s['cpu_ratio_to_one_process']:>7.3f}"
        f"  {' / '.join(f'{n:,}' for n in s['events_by_process'])}"
        for s in stages
    ]
    table = "\n".join(
        [
            f"riskwatch cluster front: {events:,} Handbook transactions, {args.shards} shards",
            "",
            "stage         processes   wall s    CPU s  CPU us/ev  vs one  events by process",
            *rows,
            f"machine load 1m: {load_before} -> {report['machine']['loadavg_1m_after']}",
        ]
    )
    publish(report, args.out, table)
    return report


if __name__ == "__main__":
    main()
