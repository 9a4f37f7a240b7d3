"""The case workflow on real databases (SQLite and PostgreSQL): folding, SLA,
moves, four-eyes, the audit chain, dispositions as labels, STR export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
import sqlalchemy as sa

from alerts import audit
from alerts.desk import CaseDesk
from alerts.errors import CaseNotFound, FourEyesViolation, InvalidAction
from alerts.labels import LabelTarget
from alerts.policy import CasePolicy
from alerts.queue import QueueQuery
from alerts.str_report import build_str, write_str_csv, write_str_json
from tests import casekit
from tests.casekit import T0, StepClock, make_alert

db_url, clock = casekit.db_url, casekit.clock

POLICY = CasePolicy(fold_window_seconds=600)


@pytest.fixture
def labels_file(tmp_path: Path) -> Path:
    return tmp_path / "analyst-labels.jsonl"


@pytest.fixture
def desk(db_url: str, clock: StepClock, labels_file: Path) -> Iterator[CaseDesk]:
    with CaseDesk.open(db_url, LabelTarget(path=labels_file), policy=POLICY, clock=clock) as d:
        yield d


def _only_case(desk: CaseDesk) -> dict:
    (case,) = desk.casefile.queue(QueueQuery())
    return case


# -- folding -------------------------------------------------------------------


def test_repeats_of_a_rule_within_its_window_are_folded_and_counted(desk: CaseDesk) -> None:
    first = make_alert(1, ts=T0)
    repeat = make_alert(2, ts=T0 + timedelta(minutes=5), score=80.0)
    later = make_alert(3, ts=T0 + timedelta(minutes=30))
    other_rule = make_alert(4, ts=T0 + timedelta(minutes=6), rule_id="geo.impossible_travel")

    result = desk.store.write_alerts([first, repeat, later, other_rule])

    assert (result.alerts_inserted, result.alerts_folded) == (3, 1)
    case = _only_case(desk)
    assert (case["alert_count"], case["folded_count"]) == (3, 1)
    assert case["max_score"] == 80.0  # a folded repeat still raises the case's score
    folds = desk.casefile.alert("AL1")["folds"]
    assert [f["txn_id"] for f in folds] == ["T2"]


def test_replaying_a_batch_with_folds_duplicates_nothing(desk: CaseDesk) -> None:
    batch = [make_alert(1, ts=T0), make_alert(2, ts=T0 + timedelta(minutes=1))]
    desk.store.write_alerts(batch)

    replay = desk.store.write_alerts(batch)

    assert (replay.alerts_inserted, replay.alerts_folded, replay.duplicates_skipped) == (0, 0, 2)
    case = _only_case(desk)
    assert (case["alert_count"], case["folded_count"]) == (1, 1)


def test_a_batch_of_nothing_but_repeats_is_folded_into_the_stored_alert(desk: CaseDesk) -> None:
    desk.store.write_alerts([make_alert(1, ts=T0)])

    result = desk.store.write_alerts([make_alert(2, ts=T0 + timedelta(minutes=1))])

    assert (result.alerts_inserted, result.alerts_folded) == (0, 1)
    assert (_only_case(desk)["alert_count"], _only_case(desk)["folded_count"]) == (1, 1)
    assert desk.store.alerted_txn_ids() == {"T1", "T2"}


def test_a_rule_s_own_suppression_window_wins_over_the_default() -> None:
    policy = CasePolicy(fold_window_seconds=600)
    assert policy.fold_window(SimpleNamespace(suppress_seconds=30)) == timedelta(seconds=30)
    assert policy.fold_window(SimpleNamespace(suppress_seconds=None)) == timedelta(minutes=10)
    assert policy.fold_window(SimpleNamespace()) == timedelta(minutes=10)


# -- SLA and the queue -----------------------------------------------------------


def test_sla_due_time_follows_the_worst_severity_and_breaches_show(
    desk: CaseDesk, clock: StepClock
) -> None:
    desk.store.write_alerts([make_alert(1, "C1", 55.0)])  # medium: 72 h
    case = _only_case(desk)
    assert case["sla_due_at"] == T0 + timedelta(hours=72)
    desk.store.write_alerts([make_alert(2, "C1", 90.0, rule_id="other")])  # critical: 4 h
    assert _only_case(desk)["sla_due_at"] == T0 + timedelta(hours=4)

    clock.advance(hours=5)

    (breached,) = desk.casefile.queue(QueueQuery(breached=True))
    assert breached["sla_breached"] is True
    assert desk.casefile.queue(QueueQuery(breached=False)) == []
    assert desk.casefile.case(breached["case_id"])["sla_breached"] is True


def test_queue_filters_and_sorts(desk: CaseDesk, clock: StepClock) -> None:
    desk.store.write_alerts(
        [
            make_alert(1, "C1", 55.0, channel="atm", typology="cash_structuring"),
            make_alert(2, "C2", 92.0, channel="online", typology="account_takeover"),
            make_alert(3, "C3", 72.0, channel="pos", typology="card_testing"),
        ]
    )
    clock.advance(hours=2)
    ids = {c["customer_id"]: c["case_id"] for c in desk.casefile.queue(QueueQuery())}
    desk.actions.assign(ids["C3"], "ana", actor="lead")

    def customers(**kw: object) -> list[str]:
        return [c["customer_id"] for c in desk.casefile.queue(QueueQuery(**kw))]

    assert customers() == ["C2", "C3", "C1"]
    assert customers(sort="score") == ["C1", "C3", "C2"]
    assert customers(sort="-severity") == ["C2", "C3", "C1"]
    assert customers(status="assigned") == ["C3"]
    assert customers(assignee="ana") == ["C3"]
    assert customers(severity="critical") == ["C2"]
    assert customers(min_score=60, max_score=80) == ["C3"]
    assert customers(channel="online") == ["C2"]
    assert customers(typology="cash_structuring") == ["C1"]
    assert customers(min_age_hours=1) == ["C2", "C3", "C1"]
    assert customers(max_age_hours=1) == []
    with pytest.raises(ValueError, match="unknown sort"):
        QueueQuery(sort="colour").order_by()


# -- moves ---------------------------------------------------------------------


def test_the_workflow_moves_and_refuses_invalid_moves(desk: CaseDesk) -> None:
    desk.store.write_alerts([make_alert(1)])
    case_id = _only_case(desk)["case_id"]

    with pytest.raises(InvalidAction, match=r"cannot move to investigating.*assign it first"):
        desk.actions.move(case_id, "investigating", actor="ana")
    assert desk.actions.assign(case_id, "ana", actor="lead")["status"] == "assigned"
    assert desk.actions.move(case_id, "investigating", actor="ana")["status"] == "investigating"
    assert desk.actions.move(case_id, "escalated", actor="ana")["status"] == "escalated"
    with pytest.raises(InvalidAction, match="cannot move to investigating"):
        desk.actions.move(case_id, "investigating", actor="ana")
    closed = desk.actions.close(case_id, "false_positive", actor="ana")
    assert (closed["status"], closed["resolution"]) == ("closed", "false_positive")
    assert closed["closed_at"] is not None
    with pytest.raises(InvalidAction, match="closed cases are final"):
        desk.actions.assign(case_id, "bo", actor="lead")
    with pytest.raises(InvalidAction, match="not a disposition"):
        desk.actions.close(case_id, "str_filed", actor="ana")
    with pytest.raises(CaseNotFound):
        desk.actions.assign(999, "ana", actor="lead")


def test_comments_are_kept_in_order(desk: CaseDesk) -> None:
    desk.store.write_alerts([make_alert(1)])
    case_id = _only_case(desk)["case_id"]
    desk.actions.comment(case_id, "called the customer", actor="ana")
    desk.actions.comment(case_id, "card blocked", actor="bo")
    with pytest.raises(InvalidAction, match="must not be empty"):
        desk.actions.comment(case_id, "   ", actor="bo")

    comments = desk.casefile.case(case_id)["comments"]

    assert [(c["author"], c["body"]) for c in comments] == [
        ("ana", "called the customer"),
        ("bo", "card blocked"),
    ]


def test_an_str_is_filed_only_after_a_second_compliance_user_approves(
    desk: CaseDesk, labels_file: Path
) -> None:
    desk.store.write_alerts([make_alert(1), make_alert(2, ts=T0 + timedelta(minutes=1))])
    case_id = _only_case(desk)["case_id"]
    desk.actions.assign(case_id, "ana", actor="ana")
    with pytest.raises(InvalidAction, match="escalated case"):
        desk.actions.prepare_str(case_id, "structuring below the threshold", actor="cora")
    desk.actions.move(case_id, "escalated", actor="ana")
    with pytest.raises(InvalidAction, match="no STR prepared"):
        desk.actions.approve_str(case_id, actor="dan")
    desk.actions.prepare_str(case_id, "structuring below the threshold", actor="cora")

    with pytest.raises(FourEyesViolation, match="cora prepared the STR"):
        desk.actions.approve_str(case_id, actor="cora")
    with pytest.raises(FourEyesViolation, match="second compliance user"):
        desk.actions.file_str(case_id, actor="cora")
    desk.actions.approve_str(case_id, actor="dan")
    filed = desk.actions.file_str(case_id, actor="cora")

    assert (filed["status"], filed["resolution"]) == ("closed", "str_filed")
    report = build_str(desk.casefile.case(case_id))
    assert report["narrative"] == "structuring below the threshold"
    assert (report["prepared_by"], report["approved_by"]) == ("cora", "dan")
    assert report["typologies"] == ["cash_structuring"]
    assert [t["txn_id"] for t in report["transactions"]] == ["T1", "T2"]  # T2 was folded
    as_json = io.StringIO()
    write_str_json(report, as_json)
    assert json.loads(as_json.getvalue())["customer_id"] == "C1"
    as_csv = io.StringIO()
    assert write_str_csv(report, as_csv) == 2
    rows = list(csv.DictReader(io.StringIO(as_csv.getvalue())))
    assert {r["approved_by"] for r in rows} == {"dan"}
    assert [r["txn_id"] for r in rows] == ["T1", "T2"]


# -- labels ---------------------------------------------------------------------


def test_a_disposition_becomes_labels_for_every_alerted_transaction(
    desk: CaseDesk, labels_file: Path, clock: StepClock
) -> None:
    desk.store.write_alerts(
        [
            make_alert(1, "C1"),
            make_alert(2, "C1", ts=T0 + timedelta(minutes=2)),
            make_alert(3, "C2"),
        ]
    )
    by_customer = {c["customer_id"]: c["case_id"] for c in desk.casefile.queue(QueueQuery())}
    clock.advance(minutes=10)
    desk.actions.close(by_customer["C1"], "confirmed_fraud", actor="ana")
    desk.actions.close(by_customer["C2"], "false_positive", actor="ana")
    assert desk.outbox.pending() == 3
    assert not labels_file.exists()

    result = desk.outbox.flush()

    assert (result.sent, result.pending, result.error) == (3, 0, None)
    labels = [orjson.loads(line) for line in labels_file.read_bytes().splitlines()]
    assert sorted((x["txn_id"], x["label"], x["source"]) for x in labels) == [
        ("T1", "fraud", "analyst"),
        ("T2", "fraud", "analyst"),  # the folded repeat is labelled too
        ("T3", "legit", "analyst"),
    ]
    assert {x["ts"] for x in labels} == {"2025-03-01T09:40:00.000Z"}
    assert desk.outbox.flush().sent == 0  # sent once


def test_labels_wait_in_the_outbox_while_the_file_cannot_be_written(
    db_url: str, clock: StepClock, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    broken = LabelTarget(path=blocker / "labels.jsonl")
    with CaseDesk.open(db_url, broken, clock=clock) as desk:
        desk.store.write_alerts([make_alert(1)])
        desk.actions.close(_only_case(desk)["case_id"], "confirmed_fraud", actor="ana")
        failed = desk.outbox.flush()
        assert (failed.sent, failed.pending) == (0, 1)
        assert "labels.jsonl" in (failed.error or "")
    fixed = LabelTarget(path=tmp_path / "labels.jsonl")
    with CaseDesk.open(db_url, fixed, clock=clock) as desk:
        assert desk.outbox.flush().sent == 1
    assert orjson.loads(fixed.path.read_bytes())["label"] == "fraud"


# -- audit -----------------------------------------------------------------------


def _worked_case(desk: CaseDesk) -> int:
    desk.store.write_alerts([make_alert(1)])
    case_id = _only_case(desk)["case_id"]
    desk.actions.assign(case_id, "ana", actor="lead")
    desk.actions.comment(case_id, "looks like a mule", actor="ana")
    desk.actions.close(case_id, "confirmed_fraud", actor="ana")
    return case_id


def test_every_action_is_in_the_audit_trail_with_before_and_after(desk: CaseDesk) -> None:
    case_id = _worked_case(desk)

    trail = desk.casefile.audit_trail(case_id)

    assert [(e["actor"], e["action"]) for e in trail] == [
        ("system", "case_opened"),
        ("lead", "assign"),
        ("ana", "comment"),
        ("ana", "close"),
    ]
    assign = trail[1]
    assert assign["before"] == {"owner": None, "status": "new"}
    assert assign["after"] == {"owner": "ana", "status": "assigned"}
    assert trail[3]["after"]["resolution"] == "confirmed_fraud"
    assert trail[3]["after"]["labels"] == 1
    with desk.store.reading("verify") as conn:
        assert audit.verify(conn).intact


def test_the_audit_table_refuses_updates_and_deletes(desk: CaseDesk) -> None:
    _worked_case(desk)
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"), desk.store.writing("tamper") as conn:
            conn.execute(sa.text(statement))


def _tamper(db_url: str, statement: str) -> None:
    """What someone with the rights to drop the triggers could do."""
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            else:
                conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
                conn.execute(sa.text("DROP TRIGGER audit_log_no_delete"))
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("statement", "finding"),
    [
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", "entry 2 (assign) was edited"),
        ("DELETE FROM audit_log WHERE seq = 3", "entries 3..3 are missing"),
        ("DELETE FROM audit_log WHERE seq = 4", "cut off the end"),
    ],
)
def test_audit_verify_detects_an_edited_or_deleted_entry(
    desk: CaseDesk, db_url: str, statement: str, finding: str
) -> None:
    _worked_case(desk)

    _tamper(db_url, statement)

    with desk.store.reading("verify") as conn:
        report = audit.verify(conn)
    assert not report.intact
    assert any(finding in problem for problem in report.problems), report.problems
