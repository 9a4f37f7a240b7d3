"""Schemathesis against the API's own OpenAPI spec: no request it can make gets a 5xx.

Run as each role, so that every route is reached past its role check, on a
store with cases in several states. Kept fast with few examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from alerts.api.app import create_app
from alerts.desk import CaseDesk
from alerts.labels import LabelTarget
from alerts.queue import QueueQuery
from tests.apikit import Deployment, app_for, deploy


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp: Path = tmp_path_factory.mktemp("schema")
    for d in deploy(f"sqlite:///{tmp / 'cases.db'}", tmp):
        cases = {c["customer_id"]: c["case_id"] for c in d.desk.casefile.queue(QueueQuery())}
        d.desk.actions.assign(cases["C3"], "ana", actor="ana")
        d.desk.actions.move(cases["C3"], "escalated", actor="ana")
        d.desk.actions.close(cases["C1"], "false_positive", actor="ana")
        yield d


def _spec_app():
    """An app over an empty in-memory store, only to serve the spec."""
    desk = CaseDesk.open("sqlite://", LabelTarget(path=Path("never-written.jsonl")))
    return create_app(desk)


schema = schemathesis.openapi.from_asgi("/openapi.json", _spec_app())


@pytest.fixture(scope="module")
def app(deployment: Deployment):
    return app_for(deployment)


@pytest.mark.parametrize("user", ["ana", "cora", "root"])
@schema.parametrize()
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_request_gets_a_server_error(
    case: schemathesis.Case, app: object, deployment: Deployment, user: str
) -> None:
    response = case.call(app=app, headers=deployment.auth(user))
    case.validate_response(response, checks=[not_a_server_error])
