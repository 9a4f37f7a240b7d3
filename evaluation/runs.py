"""What both evaluation modes share: an isolated monitor run and how it is reported."""

from __future__ import annotations

import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riskwatch.runner import RunSummary, run_monitor
from riskwatch.settings import Settings, SettingsError


def fresh_dir(out_dir: Path) -> None:
    """Empty the output directory: the flow appends, and old scores would mix in."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)


def isolated_settings(
    base: Settings, out_dir: Path, transactions: Path, labels: Path | None = None
) -> Settings:
    """The evaluation's settings: the files in ``out_dir``, embedded services only.

    Like ``riskwatch demo``, an evaluation never touches configured services:
    simulated customers must not reach a real Redis, case store or topic.
    With ``labels`` the flow reads the delayed labels beside the transactions
    and its models learn from them online, in event time.
    """
    settings = base.replace(
        data_dir=out_dir,
        input={
            "source": "file",
            "paths": [transactions],
            "label_paths": [labels] if labels is not None else [],
        },
        redis={"url": None},
        kafka={"brokers": None},
        database={"url": None},
        flow={"scores_path": out_dir / "scores.jsonl"},
    )
    if settings.redis.url or settings.database.url or settings.kafka.brokers:
        raise SettingsError("the evaluation's settings still name a service; refusing to run")
    return settings


@dataclass(frozen=True, slots=True)
class TimedRun:
    """A monitor run with the CPU it used, besides its wall time.

    The development machines are shared: wall time says how long a run took
    here and now, CPU time what it cost. ``cpu_seconds`` is this process (the
    Bytewax workers are its threads) and, with ``flow.processes`` > 1, the
    cluster's processes; ``redis_cpu_seconds`` is the embedded Redis, a child
    process, counted once it has exited (0 with an external one).
    """

    summary: RunSummary
    cpu_seconds: float
    redis_cpu_seconds: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_monitor(settings: Settings) -> TimedRun:
    cpu, children = time.process_time(), _children_cpu()
    summary = run_monitor(settings)
    # The cluster's processes are children too: their CPU is the monitor's, not Redis's.
    cluster = summary.cluster_cpu_seconds
    return TimedRun(
        summary, time.process_time() - cpu + cluster, _children_cpu() - children - cluster
    )


def run_json(
    run: TimedRun, generate_seconds: float, workers: int, processes: int = 1
) -> dict[str, Any]:
    summary = run.summary
    return {
        "read": summary.read,
        "processed": summary.processed,
        "dead_lettered": summary.dead_lettered,
        "alerts": summary.alerts,
        "generate_seconds": round(generate_seconds, 2),
        "monitor_seconds": round(summary.seconds, 2),
        "events_per_second": round(summary.events_per_second, 1),
        "monitor_cpu_seconds": round(run.cpu_seconds, 2),
        "redis_cpu_seconds": round(run.redis_cpu_seconds, 2),
        "workers": workers,
        "processes": processes,
    }


def timing_line(run: TimedRun, generate_seconds: float, processes: int = 1) -> str:
    summary = run.summary
    on = f" on {processes} processes" if processes > 1 else ""
    return (
        f"generate + write {generate_seconds:.1f} s; monitor{on} {summary.seconds:.1f} s wall "
        f"({summary.events_per_second:,.0f} events/s), {run.cpu_seconds:.1f} s CPU "
        f"+ {run.redis_cpu_seconds:.1f} s Redis CPU; dead-lettered {summary.dead_lettered:,}"
    )
