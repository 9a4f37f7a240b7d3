"""Contract tests for the Grafana side, against a fake Grafana HTTP API.

No Grafana server can run on these machines (it is in neither Debian's nor
PyPI's packages), so a small recording HTTP server stands in for the three
endpoints riskwatch calls (folders, dashboards, annotations), answering as
Grafana's HTTP API documents. What Grafana would do with the dashboards'
queries is checked against a real Prometheus in tests/test_prometheus.py.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from alerts.grafana import AlertAnnotator, annotation, connect, dashboards, push_dashboards
from alerts.metrics import PipelineMetrics
from alerts.queue_metrics import CaseQueueCollector
from alerts.store import CaseStore
from riskwatch.contracts import Alert, RuleHit, Transaction
from riskwatch.runner import run_monitor
from riskwatch.services import free_port
from tests.flowkit import everyday_traffic, settings_for_test, spree, stored_alerts

ROOT = Path(__file__).resolve().parent.parent
PROVISIONING = ROOT / "config" / "grafana" / "provisioning"


class FakeGrafana:
    """Records what it was sent; folders and dashboards answer like Grafana's API."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.folders: dict[str, str] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.annotations: list[dict[str, Any]] = []
        self.fail_annotations = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, {}))
                found = re.fullmatch(r"/api/folders/([\w-]+)", self.path)
                if found and found.group(1) in fake.folders:
                    uid = found.group(1)
                    self._reply(200, {"uid": uid, "title": fake.folders[uid]})
                else:
                    self._reply(404, {"message": "folder not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(("POST", self.path, body))
                if self.path == "/api/folders":
                    fake.folders[body["uid"]] = body["title"]
                    self._reply(200, {"uid": body["uid"], "title": body["title"]})
                elif self.path == "/api/dashboards/db":
                    board = body["dashboard"]
                    if not body.get("overwrite") and board["uid"] in fake.dashboards:
                        self._reply(412, {"message": "version-mismatch"})
                        return
                    fake.dashboards[board["uid"]] = body
                    self._reply(200, {"uid": board["uid"], "status": "success"})
                elif self.path == "/api/annotations":
                    if fake.fail_annotations:
                        self._reply(500, {"message": "database is locked"})
                        return
                    fake.annotations.append(body)
                    self._reply(200, {"id": len(fake.annotations), "message": "Annotation added"})
                else:
                    self._reply(404, {"message": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana()
    yield fake
    fake.close()


def _alert(n: int, severity: str, rules: tuple[str, ...] = ("velocity_burst",)) -> Alert:
    txn = Transaction(
        txn_id=f"T{n}",
        ts=datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
        customer_id="C007",
        account_id="A-C007",
        channel="pos",
        direction="debit",
        kind="purchase",
        amount=Decimal("1200.00"),
        currency="CNY",
    )
    hits = tuple(
        RuleHit(rule, 2, 60.0, severity, "card_fraud", "a burst of spending") for rule in rules
    )
    return Alert(
        alert_id=f"A{n}",
        txn=txn,
        score=72.0,
        severity=severity,
        rules=hits,
        models=(),
        features={},
        rule_pack_version="card_fraud@2",
        model_version="lr-1",
        detected_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
    )


def test_contract_push_makes_the_folder_once_and_replaces_the_dashboards(
    grafana: FakeGrafana,
) -> None:
    api = connect(grafana.url, "a-token", 5.0)
    first = push_dashboards(api)
    second = push_dashboards(api)

    shipped = [board["uid"] for board in dashboards()]
    assert first == second == shipped == ["riskwatch-detection", "riskwatch-operations"]
    assert grafana.folders == {"riskwatch": "riskwatch"}
    assert sum(1 for method, path, _ in grafana.requests if path == "/api/folders") == 1
    for body in grafana.dashboards.values():
        assert body["folderUid"] == "riskwatch" and body["overwrite"] is True
        assert body["dashboard"]["id"] is None, "Grafana matches by uid; ids differ per instance"


def test_contract_alerts_at_or_above_the_floor_become_tagged_annotations(
    grafana: FakeGrafana,
) -> None:
    metrics = PipelineMetrics()
    annotator = AlertAnnotator(connect(grafana.url, None, 5.0), "high", metrics)
    batch = [
        _alert(1, "medium"),
        _alert(2, "high", ("velocity_burst", "new_device_big_transfer")),
        _alert(3, "critical"),
    ]
    assert annotator.annotate(batch) == 2

    assert [a["text"].split(":")[0] for a in grafana.annotations] == [
        "riskwatch alert A2",
        "riskwatch alert A3",
    ]
    first = grafana.annotations[0]
    assert first == {**annotation(batch[1]), "panelId": None, "timeEnd": None}
    assert first["time"] == int(batch[1].detected_at.timestamp() * 1000)
    assert first["tags"] == [
        "riskwatch", "alert", "high", "pos", "velocity_burst", "new_device_big_transfer"
    ]  # fmt: skip
    # The detection dashboard's annotation query selects on tags these carry.
    (query,) = [
        a for a in _board("riskwatch-detection")["annotations"]["list"] if not a.get("builtIn")
    ]
    assert set(query["target"]["tags"]) <= set(first["tags"])
    assert _samples(metrics, "riskwatch_grafana_annotations_total") == {"sent": 2.0}


def test_contract_a_failing_grafana_costs_counted_annotations_never_an_error(
    grafana: FakeGrafana,
) -> None:
    metrics = PipelineMetrics()
    grafana.fail_annotations = True
    refused = AlertAnnotator(connect(grafana.url, None, 5.0), "low", metrics)
    assert refused.annotate([_alert(1, "high"), _alert(2, "low")]) == 0
    unreachable = AlertAnnotator(
        connect(f"http://127.0.0.1:{free_port()}", None, 1.0), "low", metrics
    )
    assert unreachable.annotate([_alert(3, "critical")]) == 0
    assert _samples(metrics, "riskwatch_grafana_annotations_total") == {"failed": 3.0}


def test_contract_a_monitor_run_annotates_its_high_alerts_and_stores_every_alert(
    grafana: FakeGrafana, tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    records = everyday_traffic() + spree("C007", start_minutes=600)
    path = tmp_path / "traffic.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    settings = settings_for_test(
        tmp_path,
        redis_url,
        key_prefix,
        input={"source": "file", "paths": [path]},
        grafana={"url": grafana.url, "annotate_min_severity": "low"},
    )
    metrics = PipelineMetrics()
    summary = run_monitor(settings, metrics=metrics)

    stored = stored_alerts(settings.database_url)
    assert stored and summary.alerts == len(stored)
    annotated = {
        a["text"].split(":")[0].removeprefix("riskwatch alert ") for a in grafana.annotations
    }
    assert annotated == {a["alert_id"] for a in stored}


def test_contract_dashboards_query_only_series_riskwatch_exports(tmp_path: Path) -> None:
    """Every metric a panel names is one the monitor, the case queue or a recording rule makes."""
    metrics = PipelineMetrics()
    exported = {m.name for m in metrics.registry.collect()}
    with CaseStore(f"sqlite:///{tmp_path / 'cases.db'}") as store:
        exported |= {m.name for m in CaseQueueCollector(store).collect()}
    rules = yaml.safe_load((ROOT / "config" / "prometheus" / "riskwatch-rules.yml").read_text())
    exported |= {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    exported.add("up")
    # Counters are exported as <name>_total, histograms as <name>_bucket.
    names = set()
    for name in exported:
        names |= {name, f"{name}_total", f"{name}_bucket"}

    datasource = yaml.safe_load((PROVISIONING / "datasources" / "riskwatch.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    for board in dashboards():
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), f"{board['uid']}: panel ids repeat"
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == uid, (board["uid"], panel["title"])
            for target in panel["targets"]:
                used = set(re.findall(r"\b(riskwatch[:_][a-z0-9_:]+|up)\b", target["expr"]))
                assert used, (panel["title"], target["expr"])
                unknown = used - names
                assert not unknown, f"{board['uid']} / {panel['title']}: {sorted(unknown)}"


def _board(uid: str) -> dict[str, Any]:
    (board,) = [b for b in dashboards() if b["uid"] == uid]
    return board


def _samples(metrics: PipelineMetrics, name: str) -> dict[str, float]:
    return {
        s.labels["outcome"]: s.value
        for m in metrics.registry.collect()
        for s in m.samples
        if s.name == name
    }
