"""Run the monitor to completion and summarise the run.

Used by ``riskwatch run``, ``riskwatch demo`` and ``riskwatch evaluate``: in
this process, or with ``flow.processes`` > 1 as a cluster of processes on
this host (:mod:`riskwatch.cluster`). Scaling out across hosts goes through
Bytewax's own runner (see README, "Scale out").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.recovery import RecoveryConfig
from bytewax.run import cli_main
from prometheus_client import start_http_server

from alerts.metrics import PipelineMetrics
from flows.monitor import get_flow
from riskwatch.clock import Clock, utc_now
from riskwatch.cluster import run_cluster
from riskwatch.embedded import with_redis
from riskwatch.gc_policy import collecting_for_batches
from riskwatch.settings import Settings, SettingsError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    """What a finished run did, for people and for tests."""

    read: int
    processed: int
    duplicates: int
    dead_lettered: int
    alerts: int
    alerts_in_store: int
    cases_in_store: int
    alerts_folded: int
    """Repeats of a rule the case store folded into an earlier alert instead of storing."""
    seconds: float
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    """Stopped by a signal: records in flight then are read but not yet accounted for."""
    labels: int = 0
    """Valid labels taken in (from the labels topic or label files)."""
    cluster_cpu_seconds: float = 0.0
    """CPU time of the cluster's processes with ``flow.processes`` > 1 (else 0)."""

    @property
    def balanced(self) -> bool:
        """Nothing lost: every record read was processed, taken in as a label, or dead-lettered."""
        return self.read == self.processed + self.labels + self.dead_lettered

    @property
    def in_flight(self) -> int:
        """Records read but not yet accounted for (only after an interrupt)."""
        return self.read - self.processed - self.labels - self.dead_lettered

    @property
    def events_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0


def _recovery(settings: Settings, recovery_dir: Path | None) -> RecoveryConfig | None:
    if recovery_dir is None:
        return None
    if not settings.redis.url:
        msg = (
            "recovery needs a persistent Redis (REDIS_URL): the embedded one forgets "
            "customer state when the run ends, so a resumed run would miscount"
        )
        raise SettingsError(msg)
    if not any(recovery_dir.glob("part-*.sqlite3")):
        from bytewax.recovery import init_db_dir

        recovery_dir.mkdir(parents=True, exist_ok=True)
        init_db_dir(recovery_dir, 1)
    return RecoveryConfig(recovery_dir)


@contextmanager
def serving_metrics(metrics: PipelineMetrics, address: str | None) -> Iterator[None]:
    """Expose the run's metrics for Prometheus to scrape while it runs."""
    if not address:
        yield
        return
    host, _, port = address.rpartition(":")
    server, thread = start_http_server(
        int(port), addr=host or "127.0.0.1", registry=metrics.registry
    )
    logger.info("metrics on http://%s:%s/metrics", host or "127.0.0.1", port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def run_monitor(
    settings: Settings,
    metrics: PipelineMetrics | None = None,
    recovery_dir: Path | None = None,
    clock: Clock = utc_now,
    metrics_address: str | None = None,
) -> RunSummary:
    """Run the monitor over its source until the source ends; return the summary.

    ``metrics_address`` (``host:port``) serves the Prometheus metrics during the run.
    With ``flow.processes`` > 1 the processes count into their own metrics
    (``metrics`` stays empty; the summary adds theirs up), and ``clock`` must
    pickle (a module-level function), as they are started with ``spawn``.
    """
    from alerts.store import CaseStore

    metrics = metrics or PipelineMetrics()
    recovery = _recovery(settings, recovery_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.flow.processes > 1:
        with with_redis(settings) as live:
            started = time.perf_counter()
            parts = run_cluster(live, recovery_dir, clock, metrics_address)
            seconds = time.perf_counter() - started
        totals = {k: sum(p.totals[k] for p in parts) for k in parts[0].totals}
        by_reason: dict[str, float] = {}
        for part in parts:
            for reason, count in part.dead_letters_by_reason.items():
                by_reason[reason] = by_reason.get(reason, 0.0) + count
        interrupted = any(p.interrupted for p in parts)
        cluster_cpu = sum(p.cpu_seconds for p in parts)
    else:
        with serving_metrics(metrics, metrics_address), with_redis(settings) as live:
            started = time.perf_counter()
            interrupted = run_here(get_flow(live, metrics, clock), live, recovery)
            seconds = time.perf_counter() - started
        totals, by_reason = metrics.totals(), metrics.dead_letters_by_reason()
        cluster_cpu = 0.0
    if interrupted:
        # Nothing is lost: what was in flight is read again on the next run
        # (from the recovery snapshot, or from the start) and recognised by txn_id.
        logger.warning("stopped by a signal; the next run picks up what was in flight")
    store = CaseStore(settings.database_url)
    try:
        alerts_in_store, cases_in_store = store.count_alerts(), store.count_cases()
        alerts_folded = store.count_folded()
    finally:
        store.close()
    return RunSummary(
        read=int(totals["read"]),
        processed=int(totals["processed"]),
        duplicates=int(totals["duplicates"]),
        dead_lettered=int(totals["dead_lettered"]),
        alerts=int(totals["alerts"]),
        alerts_in_store=alerts_in_store,
        cases_in_store=cases_in_store,
        alerts_folded=alerts_folded,
        seconds=seconds,
        dead_letters_by_reason={k: int(v) for k, v in by_reason.items()},
        interrupted=interrupted,
        labels=int(totals["labels"]),
        cluster_cpu_seconds=cluster_cpu,
    )


def run_here(
    flow: Dataflow, settings: Settings, recovery: RecoveryConfig | None, **cluster: Any
) -> bool:
    """Run ``flow`` in this process (``cluster``: its ``process_id`` and ``addresses``).

    Returns whether a signal stopped it.
    """
    try:
        with collecting_for_batches():
            cli_main(
                flow,
                workers_per_process=settings.flow.workers,
                epoch_interval=timedelta(seconds=settings.flow.epoch_interval_seconds),
                recovery_config=recovery,
                **cluster,
            )
    except (KeyboardInterrupt, BytewaxRuntimeError) as exc:
        if not caused_by_interrupt(exc):
            raise
        return True
    return False


def caused_by_interrupt(exc: BaseException | None) -> bool:
    """Bytewax wraps a KeyboardInterrupt raised inside a step in its own error."""
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
