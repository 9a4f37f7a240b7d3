"""The ops screens' data path against a real Prometheus (Debian's server binary).

A real run's counters and the case queue API's gauges are scraped by a
Prometheus started from the shipped configuration (config/prometheus, only
its targets and intervals changed), which must load every recording and
alerting rule healthy and answer every query of the shipped Grafana
dashboards (config/grafana/dashboards) — the dashboards' PromQL is checked
here against the real query engine, since no Grafana can run on this machine.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from alerts.desk import CaseDesk
from alerts.grafana import dashboards
from alerts.metrics import PipelineMetrics
from riskwatch.runner import run_monitor, serving_metrics
from riskwatch.services import free_port, start_prometheus
from tests.apikit import serving
from tests.flowkit import everyday_traffic, settings_for_test, spree, stored_alerts

CONFIG = Path(__file__).resolve().parent.parent / "config" / "prometheus"

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None,
    reason="needs Debian's prometheus (make services installs it)",
)


def _config(workdir: Path, monitor: str, api: str) -> Path:
    """The shipped configuration with this test's targets and 1-second intervals."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((CONFIG / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    targets = {"riskwatch-monitor": monitor, "riskwatch-cases": api}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    for rules in config["rule_files"]:
        shutil.copy(CONFIG / rules, workdir / rules)
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _get(port: int, path: str, **params: str) -> Any:
    url = f"http://127.0.0.1:{port}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as reply:
        body = json.loads(reply.read())
    assert body["status"] == "success", body
    return body["data"]


def _query(port: int, expr: str) -> list[dict[str, Any]]:
    return _get(port, "/api/v1/query", query=expr)["result"]


def _until(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Prometheus never showed {what} within {timeout:.0f}s")
        time.sleep(0.25)


def _panel_queries() -> list[tuple[str, str]]:
    return [
        (f"{board['uid']}: {panel['title']}", target["expr"])
        for board in dashboards()
        for panel in board["panels"]
        for target in panel["targets"]
    ]


def test_prometheus_scrapes_a_run_and_answers_every_rule_and_dashboard_query(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    records = everyday_traffic() + spree("C007", start_minutes=600)
    path = tmp_path / "traffic.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    settings = settings_for_test(
        tmp_path, redis_url, key_prefix, input={"source": "file", "paths": [path]}
    )
    metrics = PipelineMetrics()
    summary = run_monitor(settings, metrics=metrics)
    alerts = stored_alerts(settings.database_url)
    assert summary.processed == len(records) and alerts, "the run must assess and alert"

    monitor_port = free_port()
    with (
        CaseDesk.from_settings(settings) as desk,
        serving(desk) as api_port,
        serving_metrics(metrics, f"127.0.0.1:{monitor_port}"),
    ):
        config = _config(
            tmp_path / "prometheus", f"127.0.0.1:{monitor_port}", f"127.0.0.1:{api_port}"
        )
        prometheus = start_prometheus(tmp_path / "prometheus", config)
        try:
            port = prometheus.port
            processed = _until(
                "the run's processed count",
                lambda: _query(port, "riskwatch_records_processed_total"),
            )
            assert float(processed[0]["value"][1]) == summary.processed
            _until("both targets up", lambda: len(_query(port, "up == 1")) == 2)

            open_cases = _until(
                "the case queue's gauges", lambda: _query(port, "sum(riskwatch_cases_open)")
            )
            assert float(open_cases[0]["value"][1]) == len({a["case_id"] for a in alerts})
            up = _query(port, "riskwatch_case_queue_up")
            assert float(up[0]["value"][1]) == 1

            shipped = yaml.safe_load((CONFIG / "riskwatch-rules.yml").read_text())
            expected = sum(len(group["rules"]) for group in shipped["groups"])

            def evaluated_rules() -> list[dict[str, Any]]:
                groups = _get(port, "/api/v1/rules")["groups"]
                rules = [rule for group in groups for rule in group["rules"]]
                evaluated = [r for r in rules if not r["lastEvaluation"].startswith("0001")]
                return rules if len(evaluated) == len(rules) == expected else []

            for rule in _until("every rule evaluated", evaluated_rules):
                assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))

            # Recorded series exist once their rules ran over two scrapes.
            _until(
                "the recorded throughput",
                lambda: _query(port, "riskwatch:records_processed:rate5m"),
            )
            for title, expr in _panel_queries():
                try:
                    _query(port, expr)
                except urllib.error.HTTPError as exc:  # a 400 carries the parse error
                    raise AssertionError(f"{title}: {expr!r}: {exc.read().decode()}") from exc
        finally:
            prometheus.stop()
