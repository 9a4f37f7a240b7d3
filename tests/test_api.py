"""The case queue's HTTP API, through FastAPI's test client over a real store."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from tests import apikit, casekit
from tests.apikit import Deployment, app_for

deployment = apikit.deployment
db_url = casekit.db_url


@pytest.fixture
def client(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(app_for(deployment)) as test_client:
        yield test_client


def _case_of(client: TestClient, d: Deployment, customer: str) -> int:
    cases = client.get("/api/v1/cases", headers=d.auth("ana")).json()
    return next(c["case_id"] for c in cases if c["customer_id"] == customer)


def test_tokens_and_roles_are_checked_per_route(client: TestClient, deployment: Deployment) -> None:
    missing = client.get("/api/v1/cases")
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.json()["detail"]
    bad = client.get("/api/v1/cases", headers={"Authorization": "Bearer nope"})
    assert (bad.status_code, bad.json()["detail"]) == (401, "unknown or revoked token")
    case_id = _case_of(client, deployment, "C1")
    forbidden = client.post(f"/api/v1/cases/{case_id}/str/approve", headers=deployment.auth("ana"))
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"] == "ana has role analyst; this needs compliance"
    admin_closing = client.post(
        f"/api/v1/cases/{case_id}/close",
        json={"resolution": "confirmed_fraud"},
        headers=deployment.auth("root"),
    )
    assert admin_closing.status_code == 403
    assert client.get("/api/v1/users", headers=deployment.auth("cora")).status_code == 403
    assert client.get("/api/v1/users", headers=deployment.auth("root")).status_code == 200


def test_queue_filters_sorts_and_rejects_bad_parameters(
    client: TestClient, deployment: Deployment
) -> None:
    auth = deployment.auth("ana")

    def customers(**params: object) -> list[str]:
        response = client.get("/api/v1/cases", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return [c["customer_id"] for c in response.json()]

    assert customers() == ["C2", "C3", "C1"]
    assert customers(sort="score") == ["C1", "C3", "C2"]
    assert customers(channel="online") == ["C2"]
    assert customers(typology="account_takeover") == ["C2"]
    assert customers(severity="high") == ["C3"]
    assert customers(min_score=60, max_score=80) == ["C3"]
    assert customers(status="closed") == []
    bad = client.get("/api/v1/cases", params={"sort": "colour"}, headers=auth)
    assert bad.status_code == 422
    assert "sort" in bad.text
    assert client.get("/api/v1/cases", params={"min_score": 101}, headers=auth).status_code == 422


def test_case_and_alert_detail(client: TestClient, deployment: Deployment) -> None:
    auth = deployment.auth("ana")
    case_id = _case_of(client, deployment, "C2")

    case = client.get(f"/api/v1/cases/{case_id}", headers=auth).json()
    alert = client.get("/api/v1/alerts/AL2", headers=auth).json()

    assert (case["alert_count"], case["folded_count"]) == (1, 1)  # AL3 repeats AL2's rule
    assert [a["alert_id"] for a in case["alerts"]] == ["AL2"]
    assert alert["rules"][0]["version"] == 3
    assert alert["models"][0]["top_features"][0] == ["amount_z", 2.4]
    assert [f["alert_id"] for f in alert["folds"]] == ["AL3"]
    missing = client.get("/api/v1/cases/424242", headers=auth)
    assert (missing.status_code, missing.json()["detail"]) == (404, "no case with id 424242")
    assert client.get("/api/v1/alerts/nope", headers=auth).status_code == 404


def test_invalid_moves_are_409_with_the_moves_allowed(
    client: TestClient, deployment: Deployment
) -> None:
    auth = deployment.auth("ana")
    case_id = _case_of(client, deployment, "C1")

    early = client.post(
        f"/api/v1/cases/{case_id}/status", json={"status": "investigating"}, headers=auth
    )

    assert early.status_code == 409
    assert early.json()["detail"] == (
        f"case {case_id} is new; it cannot move to investigating "
        "(from new it can move to closed; assign it first)"
    )
    wrong = client.post(f"/api/v1/cases/{case_id}/status", json={"status": "closed"}, headers=auth)
    assert wrong.status_code == 422


def test_an_analyst_works_a_case_and_the_label_is_emitted(
    client: TestClient, deployment: Deployment
) -> None:
    auth = deployment.auth("ana")
    case_id = _case_of(client, deployment, "C2")
    base = f"/api/v1/cases/{case_id}"

    assert (
        client.post(f"{base}/assign", json={"assignee": "ana"}, headers=auth).json()["status"]
        == "assigned"
    )
    client.post(f"{base}/status", json={"status": "investigating"}, headers=auth)
    client.post(f"{base}/comments", json={"body": "customer denies both logins"}, headers=auth)
    closed = client.post(f"{base}/close", json={"resolution": "confirmed_fraud"}, headers=auth)

    assert closed.status_code == 200
    assert (closed.json()["status"], closed.json()["resolution"]) == ("closed", "confirmed_fraud")
    labels = [orjson.loads(x) for x in deployment.labels_file.read_bytes().splitlines()]
    assert sorted((x["txn_id"], x["label"]) for x in labels) == [("T2", "fraud"), ("T3", "fraud")]
    again = client.post(f"{base}/close", json={"resolution": "false_positive"}, headers=auth)
    assert again.status_code == 409
    trail = client.get(f"{base}/audit", headers=deployment.auth("cora")).json()
    assert [e["action"] for e in trail] == [
        "case_opened",
        "assign",
        "investigate",
        "comment",
        "close",
    ]
    verify = client.get("/api/v1/audit/verify", headers=deployment.auth("root")).json()
    assert verify["intact"] is True


def test_four_eyes_str_through_the_api_and_its_export(
    client: TestClient, deployment: Deployment
) -> None:
    case_id = _case_of(client, deployment, "C3")
    base = f"/api/v1/cases/{case_id}"
    client.post(f"{base}/assign", json={"assignee": "ana"}, headers=deployment.auth("ana"))
    client.post(f"{base}/status", json={"status": "escalated"}, headers=deployment.auth("ana"))
    cora, dan = deployment.auth("cora"), deployment.auth("dan")

    client.post(f"{base}/str/prepare", json={"narrative": "card testing run"}, headers=cora)
    own = client.post(f"{base}/str/approve", headers=cora)
    early = client.post(f"{base}/str/file", headers=cora)
    approved = client.post(f"{base}/str/approve", headers=dan)
    filed = client.post(f"{base}/str/file", headers=cora)

    assert own.status_code == 409 and "four-eyes" in own.json()["detail"]
    assert early.status_code == 409
    assert approved.status_code == 200
    assert filed.json()["resolution"] == "str_filed"
    as_json = client.get(f"{base}/str", headers=cora)
    assert as_json.headers["content-type"].startswith("application/json")
    report = as_json.json()
    assert (report["prepared_by"], report["approved_by"], report["narrative"]) == (
        "cora",
        "dan",
        "card testing run",
    )
    as_csv = client.get(f"{base}/str", params={"format": "csv"}, headers=cora)
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["txn_id"], r["approved_by"]) for r in rows] == [("T4", "dan")]
    labels = [orjson.loads(x) for x in deployment.labels_file.read_bytes().splitlines()]
    assert [(x["txn_id"], x["label"]) for x in labels] == [("T4", "suspicious")]


def test_an_admin_makes_a_user_whose_token_works(
    client: TestClient, deployment: Deployment
) -> None:
    made = client.post(
        "/api/v1/users",
        json={"username": "eve", "role": "analyst"},
        headers=deployment.auth("root"),
    )
    token = made.json()["token"]
    assert (
        client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )
    bad_role = client.post(
        "/api/v1/users", json={"username": "x", "role": "god"}, headers=deployment.auth("root")
    )
    assert bad_role.status_code == 422


def test_the_api_runs_on_postgresql_too(db_url: str, tmp_path: Path) -> None:
    for d in apikit.deploy(db_url, tmp_path):
        with TestClient(app_for(d)) as client:
            case_id = _case_of(client, d, "C1")
            closed = client.post(
                f"/api/v1/cases/{case_id}/close",
                json={"resolution": "false_positive"},
                headers=d.auth("ana"),
            )
            assert closed.json()["resolution"] == "false_positive"
            assert orjson.loads(d.labels_file.read_bytes())["label"] == "legit"


def test_the_ui_answers_an_unknown_alert_with_a_page(
    client: TestClient, deployment: Deployment
) -> None:
    client.cookies.set("riskwatch_token", deployment.tokens["ana"])
    page = client.get("/ui/alerts/nope")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "no alert with id nope" in page.text
