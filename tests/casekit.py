"""Shared by the case-queue tests: hand-made alerts, a clock the test moves,
and store fixtures that run every test on SQLite and on PostgreSQL.

Test modules import the fixtures by name (``from tests.casekit import db_url``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from alerts import CaseStore
from riskwatch.contracts import Alert, ModelScore, RuleHit, Transaction, severity_for

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


class StepClock:
    """A clock the test moves by hand, so case times are exact."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def make_alert(
    n: int,
    customer_id: str = "C1",
    score: float = 60.0,
    *,
    severity: str | None = None,
    channel: str = "atm",
    typology: str = "cash_structuring",
    ts: datetime = T0,
    txn_id: str | None = None,
    rule_id: str = "velocity.cash_burst",
    direction: str = "debit",
    amount: Decimal | None = None,
) -> Alert:
    txn = Transaction(
        txn_id=txn_id or f"T{n}",
        ts=ts,
        customer_id=customer_id,
        account_id=f"A-{customer_id}",
        channel=channel,
        direction=direction,
        kind="cash_withdrawal" if direction == "debit" else "cash_deposit",
        amount=amount if amount is not None else Decimal("250.00") + n,
        currency="EUR",
        terminal_id="ATM-7",
    )
    rule = RuleHit(
        rule_id=rule_id,
        version=3,
        score=score,
        severity=severity_for(score),
        typology=typology,
        description="five cash withdrawals within ten minutes",
        values={"count_10m": 5, "sum_10m": Decimal("1250.00")},
    )
    model = ModelScore(
        model="hst", version="0.4", score=0.87, top_features=(("amount_z", 2.4), ("hour", -0.3))
    )
    return Alert(
        alert_id=f"AL{n}",
        txn=txn,
        score=score,
        severity=severity or severity_for(score),
        rules=(rule,),
        models=(model,),
        features={"amount_z": 2.4, "count_10m": 5},
        rule_pack_version="pack-2025.03",
        model_version="hst-0.4",
        detected_at=ts + timedelta(seconds=2),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'cases.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def store(db_url: str, clock: StepClock) -> Iterator[CaseStore]:
    with CaseStore(db_url, clock=clock) as opened:
        yield opened
