"""Sinks for dead letters and alerts.

Both count a batch only once it is written (the file flushed, the store's
transaction committed), so the run summary's figures are on disk or in the
case store. An alert the store already held (a replay) counts as written:
the store is idempotent and keeps the first.

The dead-letter file is at-least-once: after a restart from a recovery
snapshot, or a second run over the same input, a record can be dead-lettered
again. Each letter carries its ``source``, ``partition`` and ``offset``, which
together identify the record, so consumers can drop repeats.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from alerts.metrics import PipelineMetrics
from alerts.policy import CasePolicy
from riskwatch.contracts import Alert, DeadLetter
from riskwatch.settings import GrafanaSettings


class _DeadLetterFilePartition(StatelessSinkPartition[DeadLetter]):
    def __init__(self, path: Path, metrics: PipelineMetrics) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab")
        self._metrics = metrics

    def write_batch(self, items: list[DeadLetter]) -> None:
        self._file.write(b"".join(orjson.dumps(d.to_json_dict()) + b"\n" for d in items))
        self._file.flush()
        for item in items:
            self._metrics.dead_letters.labels(reason=item.reason).inc()

    def close(self) -> None:
        self._file.close()


class DeadLetterFileSink(DynamicSink[DeadLetter]):
    """Append dead letters as JSON lines; one file per worker when there are several."""

    def __init__(self, path: Path, metrics: PipelineMetrics) -> None:
        self._path = path
        self._metrics = metrics

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _DeadLetterFilePartition:
        path = self._path
        if worker_count > 1:
            path = path.with_name(f"{path.stem}.w{worker_index}{path.suffix}")
        return _DeadLetterFilePartition(path, self._metrics)


class _CaseStorePartition(StatelessSinkPartition[Alert]):
    def __init__(self, url: str, metrics: PipelineMetrics, policy: CasePolicy | None) -> None:
        from alerts.store import CaseStore

        self._store = CaseStore(url, policy=policy)
        self._metrics = metrics

    def write_batch(self, items: list[Alert]) -> None:
        self._store.write_alerts(items)
        for alert in items:
            self._metrics.alerts.labels(severity=alert.severity).inc()

    def close(self) -> None:
        self._store.close()


class CaseStoreSink(DynamicSink[Alert]):
    """Write alerts into the case store, one transaction per batch, idempotently."""

    def __init__(
        self, url: str, metrics: PipelineMetrics, policy: CasePolicy | None = None
    ) -> None:
        self._url = url
        self._metrics = metrics
        self._policy = policy

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _CaseStorePartition:
        return _CaseStorePartition(self._url, self._metrics, self._policy)


class _GrafanaPartition(StatelessSinkPartition[Alert]):
    def __init__(self, settings: GrafanaSettings, metrics: PipelineMetrics) -> None:
        from alerts.grafana import AlertAnnotator, connect_configured

        api = connect_configured(settings)
        self._annotator = AlertAnnotator(api, settings.annotate_min_severity, metrics)

    def write_batch(self, items: list[Alert]) -> None:
        self._annotator.annotate(items)


class GrafanaAnnotationSink(DynamicSink[Alert]):
    """Show alerts as Grafana annotations; best effort, failures counted (alerts/grafana.py)."""

    def __init__(self, settings: GrafanaSettings, metrics: PipelineMetrics) -> None:
        self._settings = settings
        self._metrics = metrics

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _GrafanaPartition:
        return _GrafanaPartition(self._settings, self._metrics)
