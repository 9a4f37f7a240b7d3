"""Run the monitor as several Bytewax processes on this host, as one cluster.

Python runs one thread at a time per process, so one process uses about one
core however many worker threads it has; ``flow.processes`` (``--processes``)
uses more. The parent process starts the processes with Bytewax's
``cli_main(process_id=..., addresses=...)`` on free loopback ports, waits for
them, and adds up their counts into one :class:`~riskwatch.runner.RunSummary`.
The processes are the same cluster Bytewax's own runner makes across hosts
(README, "Scale out"): customers are routed by shard to a worker of any
process, and Redis holds every customer's and entity's state.

What differs from one process: each process has its own models
(:mod:`detectors.worker_models`), which learn from the labels of the
customers routed to that process; the label-driven terminal and merchant
fraud counts are in Redis and see every label. Each process serves its
metrics on its own port: ``HOST:PORT`` for the first, ``PORT + 1`` for the
second, and so on.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from riskwatch.clock import Clock
from riskwatch.services import free_port
from riskwatch.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProcessTotals:
    """What one process of the cluster counted."""

    process_id: int
    totals: dict[str, float]
    dead_letters_by_reason: dict[str, float]
    interrupted: bool
    cpu_seconds: float
    """The process's own CPU time (user + system), for cost reports."""


def process_metrics_address(address: str | None, process_id: int) -> str | None:
    """Where process ``process_id`` serves its metrics: the given port plus its index.

    >>> process_metrics_address("127.0.0.1:9108", 1)
    '127.0.0.1:9109'
    """
    if not address:
        return None
    host, _, port = address.rpartition(":")
    return f"{host}:{int(port) + process_id}"


def run_processes(
    target: Callable[..., None],
    args_of: Callable[[int, list[str]], tuple[Any, ...]],
    count: int,
    name: str,
) -> list[Any]:
    """Start ``count`` processes of one Bytewax cluster and return what each reported, in order.

    Process *i* runs ``target(*args_of(i, addresses), sender)`` in a fresh
    interpreter (``spawn``) and must send one report on ``sender``;
    ``addresses`` are free loopback ports, one per process. A process that
    fails stops the others and the failure is raised here with its exit
    code; an interrupt (Ctrl-C reaches every process of the terminal's group)
    lets each stop and report as one process does.
    """
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(count)]
    context = multiprocessing.get_context("spawn")
    running: dict[Any, Connection] = {}
    order = []
    for index in range(count):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_interruptible,
            args=(target, *args_of(index, addresses), sender),
            name=f"{name}-{index}",
        )
        process.start()
        sender.close()
        running[process] = receiver
        order.append(process)
    logger.info("cluster of %d processes on %s", count, ", ".join(addresses))
    reports: dict[Any, Any] = {}
    try:
        while running:
            try:
                ended = wait([p.sentinel for p in running])
            except KeyboardInterrupt:
                # Stop as one process does: each process stops at the signal and
                # reports; a signal sent to this process alone is passed on.
                for process in running:
                    if process.pid is not None:
                        os.kill(process.pid, signal.SIGINT)
                continue
            for process in [p for p in running if p.sentinel in ended]:
                receiver = running.pop(process)
                process.join()
                if process.exitcode != 0:
                    # A cluster without one of its processes cannot finish: stop the rest.
                    msg = f"the {name} cluster failed: {process.name} exited {process.exitcode}"
                    raise RuntimeError(msg)
                reports[process] = receiver.recv()
    finally:
        for process in running:
            process.terminate()
            process.join(timeout=30)
    return [reports[process] for process in order]


def _interruptible(target: Callable[..., None], *args: Any) -> None:
    """Run ``target`` in a cluster process that a SIGINT stops (KeyboardInterrupt).

    The parent passes a stop on to its processes as SIGINT; a process started
    with SIGINT ignored (a shell's background job, ``nohup``-like launchers)
    would pass that on to them, and Python keeps an ignored SIGINT ignored,
    so they would run to the end.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    target(*args)


def run_cluster(
    settings: Settings,
    recovery_dir: Path | None,
    clock: Clock,
    metrics_address: str | None,
) -> list[ProcessTotals]:
    """Run ``settings.flow.processes`` monitor processes to the end; each one's counts.

    ``settings`` must name a reachable Redis (the caller starts the embedded
    one). Failures and interrupts are handled as :func:`run_processes` says.
    """

    def args_of(process_id: int, addresses: list[str]) -> tuple[Any, ...]:
        metrics_at = process_metrics_address(metrics_address, process_id)
        return (settings, process_id, addresses, recovery_dir, clock, metrics_at)

    results: list[ProcessTotals] = run_processes(
        _run_process, args_of, settings.flow.processes, "riskwatch-monitor"
    )
    for result in results:
        logger.info(
            "process %d: %s read, %s processed, %.1f s CPU",
            result.process_id,
            f"{result.totals['read']:,.0f}",
            f"{result.totals['processed']:,.0f}",
            result.cpu_seconds,
        )
    return results


def _run_process(
    settings: Settings,
    process_id: int,
    addresses: list[str],
    recovery_dir: Path | None,
    clock: Clock,
    metrics_address: str | None,
    results: Connection,
) -> None:
    from bytewax.recovery import RecoveryConfig

    from alerts.metrics import PipelineMetrics
    from flows.monitor import get_flow
    from riskwatch.runner import run_here, serving_metrics

    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s p{process_id} %(message)s")
    metrics = PipelineMetrics()
    recovery = RecoveryConfig(recovery_dir) if recovery_dir is not None else None
    with serving_metrics(metrics, metrics_address):
        flow = get_flow(settings, metrics, clock)
        interrupted = run_here(flow, settings, recovery, process_id=process_id, addresses=addresses)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    totals = ProcessTotals(
        process_id,
        metrics.totals(),
        metrics.dead_letters_by_reason(),
        interrupted,
        usage.ru_utime + usage.ru_stime,
    )
    results.send(totals)
    results.close()
