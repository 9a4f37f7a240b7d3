"""The monitor flow end to end on a real Redis and a SQLite case store.

Inputs come from Bytewax's TestingSource or from a JSONL file; the flow runs
in this process with one worker and again with two, and every record must
end as processed or dead-lettered.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from bytewax.testing import TestingSource, cluster_main, run_main

from alerts.metrics import PipelineMetrics
from flows.monitor import get_flow
from riskwatch.contracts import RawRecord
from riskwatch.runner import run_monitor
from tests.flowkit import (
    BAD_RECORDS,
    alert_scores,
    everyday_traffic,
    redis_state,
    settings_for_test,
    spree,
    stored_alerts,
    write_jsonl,
)


def raw_records(payloads: list[bytes]) -> list[RawRecord]:
    return [RawRecord("test", "0", i, p) for i, p in enumerate(payloads)]


def test_a_spree_alerts_and_everyday_traffic_does_not(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    settings = settings_for_test(tmp_path, redis_url, key_prefix)
    records = everyday_traffic() + spree("C007", start_minutes=600)
    payloads = [orjson.dumps(r) for r in sorted(records, key=lambda r: r["ts"])]
    metrics = PipelineMetrics()
    run_main(get_flow(settings, metrics, source=TestingSource(raw_records(payloads), 10)))

    totals = metrics.totals()
    assert totals["read"] == 0, "TestingSource is not one of our counting sources"
    assert totals["processed"] == len(payloads)
    alerts = stored_alerts(settings.database_url)
    assert alerts, "the spree must alert"
    assert {a["customer_id"] for a in alerts} == {"C007"}
    fired = {hit["rule_id"] for a in alerts for hit in a["rules"]}
    assert "velocity_burst" in fired
    top = alerts[0]
    assert top["score"] >= settings.detection.alert_threshold
    assert top["rule_pack_version"] == "card_fraud@2,aml@3"
    assert "hst-" in top["model_version"] and top["model_version"].startswith("lr-")
    assert top["features"]["debit_count_1h"] >= 5


def test_every_bad_record_is_dead_lettered_with_its_reason(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    good = [orjson.dumps(r) for r in everyday_traffic(customers=3, per_customer=4)]
    duplicate = good[0]
    payloads = good[:6] + [bad for bad, _ in BAD_RECORDS] + good[6:] + [duplicate]
    path = write_jsonl(tmp_path / "mixed.jsonl", payloads)
    settings = settings_for_test(
        tmp_path, redis_url, key_prefix, input={"source": "file", "paths": [path]}
    )

    summary = run_monitor(settings)

    assert summary.read == len(payloads)
    assert summary.dead_lettered == len(BAD_RECORDS)
    assert summary.processed == len(good) + 1
    assert summary.duplicates == 1, "the repeated txn_id is processed without a state update"
    assert summary.balanced

    letters = [orjson.loads(line) for line in settings.dead_letter_path.read_bytes().splitlines()]
    assert [d["reason"] for d in letters] == [reason for _, reason in BAD_RECORDS]
    for letter, (payload, _) in zip(letters, BAD_RECORDS, strict=True):
        assert letter["source"] == "mixed.jsonl"
        assert letter["offset"] == payloads.index(payload) + 1, "offset is the line number"
        assert letter["error"], "a readable reason"
        if "raw_base64" not in letter and b"4111111111111111" not in payload:
            assert letter["raw"].encode() == payload
    by_reason = {d["reason"]: d for d in letters}
    assert "raw_base64" in by_reason["not_utf8"]
    assert "4111111111111111" not in by_reason["clear_card_number"]["raw"]
    assert "411111******1111" in by_reason["clear_card_number"]["raw"]


def test_a_rerun_over_the_same_file_adds_no_alert_and_no_state(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    records = everyday_traffic(customers=4, per_customer=5) + spree("C002", 300)
    path = write_jsonl(tmp_path / "traffic.jsonl", [orjson.dumps(r) for r in records])
    settings = settings_for_test(
        tmp_path, redis_url, key_prefix, input={"source": "file", "paths": [path]}
    )
    first = run_monitor(settings)
    state_after_first = redis_state(redis_url, key_prefix)
    second = run_monitor(settings)
    assert redis_state(redis_url, key_prefix) == state_after_first
    assert first.duplicates == 0
    assert second.duplicates == second.processed == first.processed
    assert second.alerts_in_store == first.alerts_in_store > 0
    assert second.cases_in_store == first.cases_in_store == 1


@pytest.mark.parametrize("workers", [2])
def test_two_workers_raise_the_same_alerts_as_one(
    tmp_path: Path, redis_url: str, key_prefix: str, workers: int
) -> None:
    records = everyday_traffic(customers=16, per_customer=12)
    records += spree("C003", 200) + spree("C011", 900, first_n=910000)
    payloads = [orjson.dumps(r) for r in sorted(records, key=lambda r: r["ts"])]

    def alerts_with(n: int) -> list[tuple[str, float]]:
        run_dir = tmp_path / f"w{n}"
        run_dir.mkdir()
        settings = settings_for_test(run_dir, redis_url, f"{key_prefix}w{n}")
        flow = get_flow(settings, source=TestingSource(raw_records(payloads), 25))
        if n == 1:
            run_main(flow)
        else:
            cluster_main(flow, [], 0, worker_count_per_proc=n)
        return alert_scores(settings.database_url)

    one, many = alerts_with(1), alerts_with(workers)
    assert one, "the sprees alert"
    assert many == one


def test_the_in_process_simulator_feeds_the_flow(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    from simulator import SimulationConfig, simulate

    settings = settings_for_test(
        tmp_path,
        redis_url,
        key_prefix,
        input={"source": "simulator", "paths": []},
        simulator={"customers": 40, "days": 3, "seed": 5},
    )
    summary = run_monitor(settings)
    expected = sum(1 for _ in simulate(SimulationConfig(seed=5, customers=40, days=3)))
    assert summary.read == summary.processed == expected > 0
    assert summary.dead_lettered == 0


def test_the_demo_never_uses_configured_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulated customers must not reach a real Redis, case queue or alerts topic."""
    import riskwatch.cli as cli
    import riskwatch.runner as runner

    seen = {}

    def fake_run(settings, **_: object):
        seen["settings"] = settings
        raise SystemExit(0)

    monkeypatch.setenv("REDIS_URL", "redis://prod-redis.invalid:6379/0")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://prod@db.invalid/prod")
    monkeypatch.setenv("KAFKA_BROKERS", "prod-kafka.invalid:9092")
    monkeypatch.setenv("RISKWATCH_REDIS__URL", "redis://other.invalid:6379/0")
    # The CLI imports the runner when a command runs (231d104): patch it there.
    monkeypatch.setattr(runner, "run_monitor", fake_run)
    with pytest.raises(SystemExit):
        cli.main(["demo", "--customers", "5", "--days", "1", "--data-dir", str(tmp_path)])
    settings = seen["settings"]
    assert settings.redis.url is None
    assert settings.kafka.brokers is None
    assert settings.database_url.startswith("sqlite:///")


def test_a_txn_id_reused_by_another_customer_loses_neither_customers_alert(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    """The id is one customer's idempotency key: the same id elsewhere is not a replay."""
    settings = settings_for_test(tmp_path, redis_url, key_prefix)
    records = spree("C001", 60) + spree("C002", 60)  # the same txn_ids for both
    payloads = [orjson.dumps(r) for r in sorted(records, key=lambda r: r["ts"])]
    metrics = PipelineMetrics()
    run_main(get_flow(settings, metrics, source=TestingSource(raw_records(payloads), 10)))
    alerts = stored_alerts(settings.database_url)
    by_customer = {
        c: {a["txn_id"] for a in alerts if a["customer_id"] == c} for c in ("C001", "C002")
    }
    assert by_customer["C001"] and by_customer["C001"] == by_customer["C002"]
    assert metrics.totals()["duplicates"] == 0


def test_file_quirks_a_bom_crlf_no_final_newline_and_an_over_long_line(
    tmp_path: Path, redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.sources

    monkeypatch.setattr(flows.sources, "MAX_RECORD_BYTES", 400)
    good = [orjson.dumps(r) for r in everyday_traffic(customers=1, per_customer=3)]
    huge = b'{"txn_id": "' + b"x" * 5000 + b'"}'
    path = tmp_path / "quirks.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + good[0] + b"\r\n" + huge + b"\r\n" + good[1] + b"\n" + good[2]
    )
    settings = settings_for_test(
        tmp_path, redis_url, key_prefix, input={"source": "file", "paths": [path]}
    )
    summary = run_monitor(settings)
    assert summary.read == 4
    assert summary.processed == 3, "the BOM, CRLF and the unterminated last line are fine"
    assert summary.dead_letters_by_reason == {"record_too_long": 1}
    (letter,) = [orjson.loads(line) for line in settings.dead_letter_path.read_bytes().splitlines()]
    assert letter["offset"] == 2
    assert len(letter["raw"]) <= 1024
