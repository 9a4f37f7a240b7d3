"""Helpers shared by the flow tests: settings for a test, and hand-made traffic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from riskwatch.settings import Settings, load_settings

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def settings_for_test(tmp_path: Path, redis_url: str, key_prefix: str, **changes: Any) -> Settings:
    """Settings that keep a test's state, cases and dead letters to itself."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "redis": {"url": redis_url, "namespace": key_prefix},
        "database": {"url": f"sqlite:///{tmp_path / 'cases.db'}"},
        "kafka": {"brokers": None},
        "flow": {"shards": 4, "batch_size": 50, "epoch_interval_seconds": 1.0, "workers": 1},
    }
    values.update(changes)
    return load_settings(**values)


def txn(n: int, customer: str, minutes: float, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "txn_id": f"T{n:06d}",
        "ts": (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
        "customer_id": customer,
        "account_id": f"A-{customer}",
        "channel": "pos",
        "direction": "debit",
        "kind": "purchase",
        "amount": "45.00",
        "currency": "CNY",
        "card_id": f"card-{customer.lower()}",
        "merchant_id": "M-0001",
        "mcc": "5411",
    }
    record.update(changes)
    return record


def everyday_traffic(customers: int = 12, per_customer: int = 10) -> list[dict[str, Any]]:
    """Small purchases spread over a day: nothing here should alert."""
    out = []
    n = 0
    for c in range(customers):
        for i in range(per_customer):
            n += 1
            out.append(txn(n, f"C{c:03d}", minutes=i * 97 + c, amount=f"{20 + (n * 7) % 60}.00"))
    return sorted(out, key=lambda r: r["ts"])


def spree(customer: str, start_minutes: float, first_n: int = 900000) -> list[dict[str, Any]]:
    """A stolen-card spree: seven jewellery purchases of 1,200 within half an hour."""
    return [
        txn(first_n + i, customer, start_minutes + i * 4, amount="1200.00", mcc="5944")
        for i in range(7)
    ]


# Each bad record, with the reason its dead letter must carry.
BAD_RECORDS: list[tuple[bytes, str]] = [
    (b'{"txn_id": "T1", ', "invalid_json"),
    (b"\xff\xfe\x00garbage", "not_utf8"),
    (b"", "empty_record"),
    (b"[1, 2]", "not_an_object"),
    (orjson.dumps({k: v for k, v in txn(1, "C900", 0).items() if k != "amount"}), "missing_field"),
    (orjson.dumps(txn(2, "C900", 0, channel="telegraph")), "invalid_field"),
    (orjson.dumps(txn(3, "C900", 0, direction="both")), "invalid_field"),
    (orjson.dumps(txn(4, "C900", 0, amount="-10.00")), "invalid_amount"),
    (orjson.dumps(txn(5, "C900", 0, amount=0)), "invalid_amount"),
    (orjson.dumps(txn(6, "C900", 0, amount="NaN")), "invalid_amount"),
    (orjson.dumps(txn(7, "C900", 0, amount="Infinity")), "invalid_amount"),
    (orjson.dumps(txn(8, "C900", 0, amount="ten")), "invalid_amount"),
    (orjson.dumps(txn(9, "C900", 0, ts="next tuesday")), "invalid_timestamp"),
    (orjson.dumps(txn(10, "C900", 0, ts="2099-01-01T00:00:00Z")), "future_timestamp"),
    (orjson.dumps(txn(11, "C900", 0, txn_id="T" * 200)), "id_too_long"),
    (orjson.dumps(txn(12, "C900", 0, card_id="4111111111111111")), "clear_card_number"),
]


def redis_state(redis_url: str, namespace: str) -> dict[str, Any]:
    """Every string, hash and sorted set of a namespace, keyed without it, so runs compare.

    The pickled models (a string, with a snapshot generation) are left out.
    """
    import redis

    client = redis.Redis.from_url(redis_url)
    out: dict[str, Any] = {}
    for key in client.scan_iter(f"{namespace}:*"):
        name = key.decode().split(":", 1)[1]
        kind = client.type(key)
        if kind == b"hash":
            out[name] = client.hgetall(key)
        elif kind == b"string":
            if not name.startswith("{ml}:models"):
                out[name] = client.get(key)
        else:
            out[name] = client.zrange(key, 0, -1, withscores=True)
    return out


def stored_alerts(database_url: str) -> list[dict[str, Any]]:
    """Every alert in a case store, highest score first."""
    from alerts.store import CaseStore

    with CaseStore(database_url) as store:
        return store.list_alerts(limit=None)


def alert_scores(database_url: str) -> list[tuple[str, float]]:
    """The alerts of a case store as sorted (alert id, score) pairs, for comparing runs."""
    return sorted((a["alert_id"], a["score"]) for a in stored_alerts(database_url))


def write_jsonl(path: Path, records: list[bytes]) -> Path:
    path.write_bytes(b"".join(r + b"\n" for r in records))
    return path
