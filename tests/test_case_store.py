"""The case store against real databases: a SQLite file and a PostgreSQL server.

Every store test runs on both, because the store's promises (idempotent
replays, one open case per customer, aware UTC times) rest on dialect details
that differ between them.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from alerts import (
    CaseNotFound,
    CaseStore,
    CaseStoreUnavailable,
    InvalidAlert,
    WriteResult,
)
from alerts.export import CSV_COLUMNS, write_csv, write_jsonl
from alerts.schema import metadata
from riskwatch.contracts import Alert
from riskwatch.services import free_port
from tests import casekit
from tests.casekit import T0, StepClock, make_alert

# The store fixtures, on SQLite and on PostgreSQL.
db_url, clock, store = casekit.db_url, casekit.clock, casekit.store

# -- schema -------------------------------------------------------------------


def test_opening_migrates_to_head_and_again_is_harmless(db_url: str) -> None:
    CaseStore(db_url).close()
    with CaseStore(db_url) as store:
        store.migrate()
    engine = sa.create_engine(db_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    assert tables == set(metadata.tables) | {"alembic_version"}
    assert version == "0002"


def test_migrations_build_the_schema_the_store_queries(db_url: str) -> None:
    CaseStore(db_url).close()
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diffs == []


def test_workers_opening_a_fresh_database_at_once_migrate_it_once(db_url: str) -> None:
    """Bytewax workers each open the store at start-up; none may trip over another."""
    opened: list[CaseStore] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_store() -> None:
        start.wait()
        try:
            opened.append(CaseStore(db_url))
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in opened:
        store.close()

    assert errors == []
    assert len(opened) == 4


def test_unreachable_database_is_reported_as_unavailable(
    request: pytest.FixtureRequest, tmp_path: Path, db_url: str
) -> None:
    if db_url.startswith("sqlite"):
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("")
        url = f"sqlite:///{blocker / 'cases.db'}"
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere?connect_timeout=2"
    with pytest.raises(CaseStoreUnavailable):
        CaseStore(url)


# -- writing ------------------------------------------------------------------


def test_first_alerts_open_one_case_per_customer(store: CaseStore) -> None:
    batch = [make_alert(1, "C1"), make_alert(2, "C2"), make_alert(3, "C1", 75.0)]

    result = store.write_alerts(batch)

    assert result == WriteResult(alerts_inserted=3, duplicates_skipped=0, cases_opened=2)
    assert (store.count_alerts(), store.count_cases()) == (3, 2)
    by_customer = {c["customer_id"]: c for c in store.list_cases()}
    assert by_customer["C1"]["alert_count"] == 2
    assert by_customer["C1"]["max_score"] == 75.0
    assert by_customer["C1"]["severity"] == "high"
    assert by_customer["C1"]["status"] == "new"
    assert by_customer["C1"]["owner"] is None
    assert by_customer["C1"]["closed_at"] is None
    assert by_customer["C2"]["alert_count"] == 1


def test_open_case_absorbs_later_alerts(store: CaseStore, clock: StepClock) -> None:
    store.write_alerts([make_alert(1, "C1", 90.0)])
    later = clock.advance(minutes=5)

    result = store.write_alerts([make_alert(2, "C1", 55.0), make_alert(3, "C1", 72.0)])

    assert result == WriteResult(alerts_inserted=2, duplicates_skipped=0, cases_opened=0)
    [case] = store.list_cases()
    assert case["alert_count"] == 3
    assert case["max_score"] == 90.0
    assert case["severity"] == "critical"  # the worst so far, not the latest
    assert case["opened_at"] == T0
    assert case["updated_at"] == later
    assert {a["case_id"] for a in store.list_alerts()} == {case["case_id"]}


def test_rewriting_the_same_batch_changes_nothing(store: CaseStore, db_url: str) -> None:
    batch = [make_alert(1, "C1"), make_alert(2, "C2", 80.0), make_alert(3, "C1")]
    first = store.write_alerts(batch)
    cases_before = store.list_cases()

    again = store.write_alerts(batch)
    with CaseStore(db_url) as restarted:  # a replay after a restart
        replayed = restarted.write_alerts(list(reversed(batch)))

    assert first == WriteResult(alerts_inserted=3, duplicates_skipped=0, cases_opened=2)
    assert again == replayed == WriteResult(alerts_inserted=0, duplicates_skipped=3)
    assert (store.count_alerts(), store.count_cases()) == (3, 2)
    assert store.list_cases() == cases_before


def test_repeats_within_a_batch_and_rescored_transactions_are_skipped(
    store: CaseStore,
) -> None:
    store.write_alerts([make_alert(1, "C1", txn_id="T-shared")])

    result = store.write_alerts(
        [
            make_alert(2, "C1"),
            make_alert(2, "C1"),  # the same alert twice in one batch
            make_alert(3, "C1", txn_id="T-shared"),  # a second alert for a stored txn
        ]
    )

    assert result == WriteResult(alerts_inserted=1, duplicates_skipped=2, cases_opened=0)
    assert store.count_alerts() == 2
    assert store.list_cases()[0]["alert_count"] == 2


def test_a_closed_case_is_not_reopened_by_the_next_alert(
    store: CaseStore, clock: StepClock
) -> None:
    store.write_alerts([make_alert(1, "C1", 88.0)])
    [first] = store.list_cases()
    closed_at = clock.advance(hours=1)
    store.close_case(first["case_id"])
    store.close_case(first["case_id"])  # closing twice is harmless

    result = store.write_alerts([make_alert(2, "C1", 40.0)])

    assert result.cases_opened == 1
    closed = store.get_case(first["case_id"])
    assert closed is not None
    assert (closed["status"], closed["closed_at"], closed["alert_count"]) == (
        "closed",
        closed_at,
        1,
    )
    [fresh] = store.list_cases(status="new")
    assert fresh["case_id"] != first["case_id"]
    assert (fresh["alert_count"], fresh["max_score"], fresh["severity"]) == (1, 40.0, "low")


def test_closing_or_reading_an_unknown_case(store: CaseStore) -> None:
    with pytest.raises(CaseNotFound, match="no case with id 999"):
        store.close_case(999)
    assert store.get_case(999) is None


def test_invalid_alert_is_refused_before_anything_is_written(store: CaseStore) -> None:
    naive = make_alert(2, "C2", ts=datetime(2025, 3, 1, 9, 30))  # naive on purpose

    with pytest.raises(InvalidAlert, match="AL2"):
        store.write_alerts([make_alert(1, "C1"), naive])
    with pytest.raises(InvalidAlert, match="severity"):
        store.write_alerts([make_alert(3, "C1", severity="urgent")])

    assert (store.count_alerts(), store.count_cases()) == (0, 0)


def test_concurrent_writers_share_one_open_case(db_url: str) -> None:
    """Writers racing on the same customer end with one case and exact counts."""
    stores = [CaseStore(db_url) for _ in range(4)]
    batches = [[make_alert(w * 100 + i, "C1", 50.0 + i) for i in range(10)] for w in range(4)]
    # Every writer also replays the first writer's batch.
    batches = [batch + batches[0] for batch in batches]
    results: list[WriteResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def write(store: CaseStore, batch: list[Alert]) -> None:
        start.wait()
        try:
            results.append(store.write_alerts(batch))
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=pair) for pair in zip(stores, batches, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores[1:]:
        store.close()

    assert errors == []
    assert sum(r.alerts_inserted for r in results) == 40
    assert sum(r.cases_opened for r in results) == 1
    [case] = stores[0].list_cases()
    assert case["alert_count"] == 40
    assert stores[0].count_alerts() == 40
    stores[0].close()


# -- reading ------------------------------------------------------------------


def test_lists_are_ordered_riskiest_first(store: CaseStore) -> None:
    store.write_alerts(
        [
            make_alert(1, "C1", 40.0),
            make_alert(2, "C2", 95.0, channel="online", typology="account_takeover"),
            make_alert(3, "C3", 70.0),
            make_alert(4, "C1", 85.0, channel="online"),
        ]
    )

    assert [a["score"] for a in store.list_alerts()] == [95.0, 85.0, 70.0, 40.0]
    assert [a["alert_id"] for a in store.list_alerts(limit=2)] == ["AL2", "AL4"]
    assert [a["alert_id"] for a in store.list_alerts("C1")] == ["AL4", "AL1"]
    assert [a["alert_id"] for a in store.list_alerts(channel="online")] == ["AL2", "AL4"]
    assert [a["alert_id"] for a in store.list_alerts(typology="account_takeover")] == ["AL2"]
    assert [c["customer_id"] for c in store.list_cases()] == ["C2", "C1", "C3"]
    assert [c["max_score"] for c in store.list_cases(limit=2)] == [95.0, 85.0]
    assert store.list_cases(status="closed") == []
    with pytest.raises(ValueError, match="unknown case status"):
        store.list_cases(status="open")


def test_times_come_back_aware_in_utc(store: CaseStore) -> None:
    shanghai = timezone(timedelta(hours=8))
    event_time = datetime(2025, 3, 1, 17, 30, 0, 123456, tzinfo=shanghai)
    store.write_alerts([make_alert(1, "C1", ts=event_time)])

    [alert] = store.list_alerts()
    [case] = store.list_cases()

    assert alert["event_time"] == event_time
    assert alert["event_time"].utcoffset() == timedelta(0)
    assert alert["detected_at"] == event_time + timedelta(seconds=2)
    for value in (alert["detected_at"], case["opened_at"], case["updated_at"]):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)


def test_alert_keeps_its_wire_form_explanation(store: CaseStore) -> None:
    original = make_alert(1, "C1", 77.0)
    store.write_alerts([original])

    [stored] = store.list_alerts()

    # Decimals in rule values are kept exact, as text, like the transaction's amount.
    wire = json.loads(json.dumps(original.to_json_dict(), default=str))
    for part in ("rules", "models", "features", "txn"):
        assert stored[part] == wire[part], part
    assert stored["rules"][0]["values"]["sum_10m"] == "1250.00"
    assert stored["typologies"] == ["cash_structuring"]
    assert stored["channel"] == "atm"
    assert (stored["rule_pack_version"], stored["model_version"]) == ("pack-2025.03", "hst-0.4")


# -- export -------------------------------------------------------------------


def test_export_jsonl_holds_the_alert_with_its_case(store: CaseStore) -> None:
    original = make_alert(1, "C1", 77.0)
    store.write_alerts([original, make_alert(2, "C2", 91.0)])
    out = io.StringIO()

    written = write_jsonl(store.list_alerts(limit=None), out)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert written == 2
    assert [line["alert_id"] for line in lines] == ["AL2", "AL1"]
    exported = lines[1]
    wire = json.loads(json.dumps(original.to_json_dict(), default=str))
    for key in ("txn_id", "customer_id", "score", "severity", "rules", "models", "txn"):
        assert exported[key] == wire[key], key
    assert exported["event_time"] == wire["event_time"] == "2025-03-01T09:30:00.000Z"
    assert exported["detected_at"] == wire["detected_at"]
    assert exported["case_id"] == store.list_cases(limit=None)[1]["case_id"]


def test_export_csv_explains_each_alert(store: CaseStore) -> None:
    store.write_alerts([make_alert(1, "C1", 77.0)])
    out = io.StringIO(newline="")

    written = write_csv(store.list_alerts(), out)

    out.seek(0)
    rows = list(csv.DictReader(out))
    assert written == 1
    assert tuple(rows[0]) == CSV_COLUMNS
    row = rows[0]
    assert row["alert_id"] == "AL1"
    assert row["rules_fired"] == "velocity.cash_burst@v3"
    assert row["model_scores"] == "hst@0.4=0.87"
    assert row["top_features"] == "hst:amount_z=+2.4,hour=-0.3"
    assert row["explanation"] == "five cash withdrawals within ten minutes"
    assert row["typologies"] == "cash_structuring"
    assert (row["amount"], row["currency"], row["severity"]) == ("251.00", "EUR", "high")
    assert row["event_time"] == "2025-03-01T09:30:00.000Z"
