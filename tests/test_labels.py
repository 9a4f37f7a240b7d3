"""The labels loop on a real Redis: event time, the join, idempotence, dead letters."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import redis
from bytewax.testing import run_main

from alerts.metrics import PipelineMetrics
from detectors.label_store import LabelStore, ScoredRecord
from flows.monitor import get_flow
from riskwatch.contracts import Label, Transaction, ts_to_iso
from riskwatch.parsing import ValidationLimits, parse_transaction
from tests.flowkit import T0, settings_for_test, txn, write_jsonl

DAY_MS = 86_400_000
HORIZON_S = 7 * 86_400


def _txn(n: int, minutes: float, terminal: str = "TERM-1", customer: str = "C001") -> Transaction:
    raw = orjson.dumps(txn(n, customer, minutes, terminal_id=terminal))
    return parse_transaction(raw, T0 + timedelta(days=400), ValidationLimits())


def _label(t: Transaction, after: timedelta, verdict: str = "fraud") -> Label:
    return Label(t.txn_id, t.customer_id, verdict, "chargeback", t.ts + after)


def _record(t: Transaction) -> ScoredRecord:
    return ScoredRecord(t.customer_id, t.txn_id, t.ts_ms, t.terminal_id, t.merchant_id, {"x": 1.0})


def test_a_label_counts_only_for_transactions_at_or_after_its_ts(
    redis_url: str, key_prefix: str
) -> None:
    store = LabelStore(redis.Redis.from_url(redis_url), key_prefix, HORIZON_S)
    first = _txn(1, 0)
    label = _label(first, timedelta(days=1))
    store.exchange("s0", [], [], 0, [first])
    # The label is read long before the transactions around its ts: it is held.
    store.exchange("s0", [_record(first)], [label], first.ts_ms, [])
    before = _txn(2, 24 * 60 - 60)  # an hour before the label's ts
    after = _txn(3, 24 * 60 + 60)  # an hour after it
    seen_before = store.exchange("s0", [], [], before.ts_ms, [before])
    assert seen_before.labels_released == 0, "the watermark has not reached the label"
    assert seen_before.fraud_counts[0]["terminal_fraud_1d"] == 0.0
    released = store.exchange("s0", [], [], after.ts_ms, [after])
    assert released.labels_released == 1
    assert [(e.member, e.is_fraud) for e in released.examples] == [("C001|T000001", True)]
    assert released.fraud_counts[0]["terminal_fraud_1d"] == 1.0
    assert released.fraud_counts[0]["merchant_fraud_30d"] == 1.0
    # Its outcome is known at its label; its maturity (ts + horizon) is still to come.
    assert released.fraud_counts[0]["terminal_risk_1d"] == 0.0
    # A transaction read late, from before the label's ts, still does not see it.
    late = store.exchange("s0", [], [], after.ts_ms, [_txn(4, 24 * 60 - 30)])
    assert late.fraud_counts[0]["terminal_fraud_7d"] == 0.0
    # And the label leaves the 1-day window a day after its ts.
    next_day = store.exchange("s0", [], [], after.ts_ms, [_txn(5, 2 * 24 * 60 + 61)])
    assert next_day.fraud_counts[0]["terminal_fraud_1d"] == 0.0
    assert next_day.fraud_counts[0]["terminal_fraud_7d"] == 1.0


def test_a_duplicated_label_teaches_and_counts_once(redis_url: str, key_prefix: str) -> None:
    store = LabelStore(redis.Redis.from_url(redis_url), key_prefix, HORIZON_S)
    first = _txn(1, 0)
    label = _label(first, timedelta(hours=2))
    store.exchange("s0", [_record(first)], [label, label], first.ts_ms, [])
    store.exchange("s0", [], [label], first.ts_ms, [])
    probe = _txn(2, 5 * 60)
    result = store.exchange("s0", [], [label], probe.ts_ms, [probe])
    assert len([e for e in result.examples if e.is_fraud]) == 1
    assert result.fraud_counts[0]["terminal_fraud_1d"] == 1.0
    again = store.exchange("s0", [], [label], probe.ts_ms + DAY_MS, [probe])
    assert again.examples == [], "the join record is gone: nothing is learned twice"
    assert again.labels_unmatched == 1
    assert again.fraud_counts[0]["terminal_fraud_1d"] == 1.0


def test_unlabelled_transactions_become_legitimate_after_the_horizon(
    redis_url: str, key_prefix: str
) -> None:
    store = LabelStore(redis.Redis.from_url(redis_url), key_prefix, HORIZON_S)
    quiet, fraud = _txn(1, 0), _txn(2, 10)
    store.exchange("s0", [_record(quiet), _record(fraud)], [], fraud.ts_ms, [])
    store.exchange("s0", [], [_label(fraud, timedelta(days=3))], fraud.ts_ms, [])
    within = store.exchange("s0", [], [], quiet.ts_ms + 6 * DAY_MS, [])
    # The fraud is learned when its label's ts passes; the quiet one waits out the horizon.
    assert [(e.member, e.is_fraud) for e in within.examples] == [("C001|T000002", True)]
    probe = _txn(3, 10 + 7 * 24 * 60 + 1)
    past = store.exchange("s0", [], [], fraud.ts_ms + 7 * DAY_MS + 1, [probe])
    assert [(e.member, e.is_fraud) for e in past.examples] == [("C001|T000001", False)]
    # Both outcomes are known a horizon after their transactions: one fraud in two.
    risk = past.fraud_counts[0]
    assert (risk["terminal_fraud_7d"], risk["terminal_risk_7d"]) == (1.0, 0.5)
    assert (risk["terminal_fraud_1d"], risk["terminal_risk_1d"]) == (0.0, 0.0)
    assert store.exchange("s0", [], [], fraud.ts_ms + 30 * DAY_MS, []).examples == []


def test_the_flow_learns_from_a_label_file_and_dead_letters_bad_labels(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    records = [
        txn(i, f"C{i % 5:03d}", minutes=i * 90, terminal_id=f"TERM-{i % 3}") for i in range(1, 200)
    ]
    fraud = records[10]
    label = {
        "txn_id": fraud["txn_id"],
        "customer_id": fraud["customer_id"],
        "label": "fraud",
        "source": "chargeback",
        "ts": ts_to_iso(T0 + timedelta(minutes=10 * 90 + 60 * 24)),
    }
    bad = [
        (orjson.dumps({**label, "label": "maybe"}), "invalid_label"),
        (orjson.dumps({k: v for k, v in label.items() if k != "txn_id"}), "missing_field"),
        (b'{"txn_id": ', "invalid_json"),
    ]
    txns_path = write_jsonl(tmp_path / "txns.jsonl", [orjson.dumps(r) for r in records])
    labels_path = write_jsonl(
        tmp_path / "labels.jsonl", [orjson.dumps(label), orjson.dumps(label), *(b for b, _ in bad)]
    )
    settings = settings_for_test(
        tmp_path,
        redis_url,
        key_prefix,
        input={"source": "file", "paths": [txns_path], "label_paths": [labels_path]},
    )
    metrics = PipelineMetrics()
    run_main(get_flow(settings, metrics))

    letters = [orjson.loads(line) for line in settings.dead_letter_path.read_text().splitlines()]
    assert sorted(d["reason"] for d in letters) == sorted(r for _, r in bad)
    totals = metrics.totals()
    assert totals["read"] == len(records) + 2 + len(bad)
    assert (totals["processed"], totals["labels"]) == (len(records), 2)
    assert totals["read"] == totals["processed"] + totals["labels"] + totals["dead_lettered"]
    learned = {
        s.labels["label"]: s.value
        for m in metrics.examples_learned.collect()
        for s in m.samples
        if s.name.endswith("_total")
    }
    # One fraud (the duplicate is idempotent); the rest of the first 7 days
    # matured into legitimate examples once the watermark passed the horizon.
    assert learned["fraud"] == 1.0
    # Only transactions a horizon (plus the release lateness) older than the
    # last one can have matured, the labelled fraud never among them; each
    # shard releases at its watermark before its latest batch, so fewer may have.
    matured_at_most = sum(1 for i in range(1, 200) if (199 - i) * 90 >= 7 * 24 * 60 + 60) - 1
    assert 0 < learned["legit"] <= matured_at_most
    client = redis.Redis.from_url(redis_url)
    frauds = client.zrange(f"{key_prefix}:{{ml}}:fraud:t:{fraud['terminal_id']}", 0, -1)
    assert frauds == [f"{fraud['customer_id']}|{fraud['txn_id']}".encode()]
