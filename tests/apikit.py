"""Shared by the API and UI tests: a case desk with users and alerts, and its app."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn

from alerts.api.app import create_app
from alerts.desk import CaseDesk
from alerts.labels import LabelTarget
from alerts.policy import CasePolicy
from alerts.queue import QueueQuery
from riskwatch.services import free_port
from tests.casekit import T0, StepClock, make_alert

__all__ = ["T0", "Deployment", "QueueQuery", "app_for", "deploy", "deployment", "serving"]

USERS = {"ana": "analyst", "cora": "compliance", "dan": "compliance", "root": "admin"}


@dataclass
class Deployment:
    desk: CaseDesk
    tokens: dict[str, str]
    labels_file: Path
    clock: StepClock

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def deploy(url: str, tmp_path: Path) -> Iterator[Deployment]:
    """A store with four users and three customers' alerts (C2's is the riskiest)."""
    clock = StepClock()
    labels_file = tmp_path / "analyst-labels.jsonl"
    desk = CaseDesk.open(
        url, LabelTarget(path=labels_file), policy=CasePolicy(fold_window_seconds=600), clock=clock
    )
    tokens = {name: desk.users.create(name, role, actor="setup") for name, role in USERS.items()}
    desk.store.write_alerts(
        [
            make_alert(1, "C1", 55.0, channel="atm"),
            make_alert(2, "C2", 93.0, channel="online", typology="account_takeover"),
            make_alert(3, "C2", 91.0, channel="online", ts=T0 + timedelta(minutes=3)),
            make_alert(4, "C3", 72.0, channel="pos", rule_id="card.testing"),
        ]
    )
    yield Deployment(desk, tokens, labels_file, clock)
    desk.close()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    yield from deploy(f"sqlite:///{tmp_path / 'cases.db'}", tmp_path)


def app_for(deployment: Deployment):
    return create_app(deployment.desk)


@contextlib.contextmanager
def serving(desk: CaseDesk) -> Iterator[int]:
    """The desk's app on a real uvicorn server on a free loopback port, for a browser or scraper."""
    port = free_port()
    config = uvicorn.Config(create_app(desk), host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield port
    finally:
        running.should_exit = True
        thread.join(timeout=10)
