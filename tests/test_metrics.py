"""The run's Prometheus metrics: counted per run and served over HTTP."""

from __future__ import annotations

import urllib.request

from alerts.metrics import PipelineMetrics
from riskwatch.runner import serving_metrics
from riskwatch.services import free_port


def test_each_run_counts_on_its_own_registry() -> None:
    first, second = PipelineMetrics(), PipelineMetrics()
    first.records_read.labels(source="file:a").inc(3)
    first.dead_letters.labels(reason="invalid_json").inc()
    assert first.totals()["read"] == 3
    assert second.totals()["read"] == 0
    assert first.dead_letters_by_reason() == {"invalid_json": 1}


def test_metrics_are_served_for_prometheus_while_a_run_lasts() -> None:
    metrics = PipelineMetrics()
    metrics.records_read.labels(source="simulator").inc(42)
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with (
        serving_metrics(metrics, f"127.0.0.1:{port}"),
        urllib.request.urlopen(url, timeout=5) as reply,
    ):
        body = reply.read().decode()
    assert 'riskwatch_records_read_total{source="simulator"} 42.0' in body
