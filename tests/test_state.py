"""The Redis state store: idempotence, lateness, isolation, keys, errors (real Redis).

Every feature's value is checked against a brute-force reference in
tests/test_features_reference.py; these are the store's own promises.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import redis

from detectors.entity_state import bucket_key
from detectors.state import CustomerStateStore, StateUpdate
from riskwatch.contracts import Transaction

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def txn(txn_id: str, minutes: float, direction: str = "debit", amount: str = "10.00",
        customer: str = "C1", **extra: object) -> Transaction:  # fmt: skip
    return Transaction(
        txn_id=txn_id,
        ts=T0 + timedelta(minutes=minutes),
        customer_id=customer,
        account_id="A1",
        channel="pos",
        direction=direction,
        kind="purchase" if direction == "debit" else "transfer_in",
        amount=Decimal(amount),
        currency="CNY",
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def store(redis_url: str, key_prefix: str) -> CustomerStateStore:
    client = redis.Redis.from_url(redis_url)
    return CustomerStateStore(client, key_prefix, 8 * 86400, 3600, 3600)


def totals(update: StateUpdate, seconds: int) -> tuple[int, int, int, int]:
    """Debit count, debit sum, credit count, credit sum of one customer window."""
    i = {60: 0, 600: 1, 3600: 2, 86400: 3, 7 * 86400: 4, 30 * 86400: 5}[seconds]
    return tuple(update.totals[4 * i : 4 * i + 4])  # type: ignore[return-value]


def test_windows_count_and_sum_debits_and_credits(store: CustomerStateStore) -> None:
    updates = store.apply(
        [
            txn("a", 0, "credit", "1000.00"),
            txn("b", 10, "debit", "25.50"),
            txn("c", 70, "debit", "4.50"),
        ]
    )
    assert totals(updates[2], 3600) == (1, 450, 0, 0)
    assert totals(updates[2], 86400) == (2, 3000, 1, 100000)


def test_a_duplicate_txn_id_changes_nothing(
    store: CustomerStateStore, redis_url: str, key_prefix: str
) -> None:
    from tests.flowkit import redis_state

    first = store.apply([txn("a", 0, terminal_id="T1"), txn("b", 5, terminal_id="T1")])
    before = redis_state(redis_url, key_prefix)
    again = store.apply([txn("b", 5, terminal_id="T1"), txn("a", 0, terminal_id="T1")])
    assert [u.fresh for u in first] == [True, True]
    assert [u.fresh for u in again] == [False, False]
    assert redis_state(redis_url, key_prefix) == before, "not one key changed"
    assert totals(again[0], 3600) == totals(first[1], 3600), "assessed at its first event time"
    assert again[0].entities["terminal"][0] == 2, "the terminal did not count it twice"


def test_a_batch_is_not_sent_over_customers_still_being_read(store: CustomerStateStore) -> None:
    """begin() refuses a batch sharing a customer with one whose replies are unread."""
    first = store.begin([txn("a", 0)])
    with pytest.raises(ValueError, match="still being read"):
        store.begin([txn("b", 5)])
    assert [u.fresh for u in first] == [True]
    assert [u.fresh for u in store.begin([txn("b", 5)])] == [True], "once read, it may"
    closed = store.begin([txn("c", 9)])
    closed.close()  # type: ignore[attr-defined]
    (later,) = store.apply([txn("d", 12)])
    assert totals(later, 3600)[0] == 4, "a closed batch is recorded and frees its customers"


def test_an_out_of_order_event_lands_in_its_own_windows(store: CustomerStateStore) -> None:
    store.apply([txn("a", 0), txn("b", 80)])
    (late,) = store.apply([txn("late", 30)])
    assert late.late is False, "50 minutes behind is within the allowed hour"
    assert totals(late, 3600) == (2, 2000, 0, 0), "sees 'a' (30 min before), not 'b' (after)"


def test_an_event_beyond_the_allowed_lateness_is_flagged_and_recorded(
    store: CustomerStateStore,
) -> None:
    store.apply([txn("a", 0), txn("b", 24 * 60 * 3)])
    (late,) = store.apply([txn("very_late", 10)])
    assert late.late is True and late.fresh is True, "recorded, so a replay is a duplicate"
    (replay,) = store.apply([txn("very_late", 10)])
    assert replay.fresh is False


def test_an_event_beyond_the_dedup_horizon_is_not_recorded(store: CustomerStateStore) -> None:
    store.apply([txn("a", 0), txn("b", 24 * 60 * 9)])
    (stale,) = store.apply([txn("a", 0)])
    assert stale.stale and stale.late and not stale.fresh
    (after,) = store.apply([txn("c", 24 * 60 * 9 + 1)])
    assert totals(after, 30 * 86400)[0] == 3, "'a' is counted once, not twice"


def test_customers_do_not_share_state(store: CustomerStateStore) -> None:
    store.apply([txn("a", 0, customer="C1")])
    (other,) = store.apply([txn("b", 1, customer="C2")])
    assert totals(other, 3600) == (1, 1000, 0, 0)


def test_entities_count_their_customers(store: CustomerStateStore) -> None:
    updates = store.apply(
        [txn(f"t{i}", i, customer=f"C{i % 3}", merchant_id="M1") for i in range(7)]
    )
    assert updates[-1].entities["merchant"] == (7, 7, 7, 3, 3, 3)
    assert "terminal" not in updates[-1].entities


def test_keys_expire_and_carry_their_hash_tag(
    store: CustomerStateStore, redis_url: str, key_prefix: str
) -> None:
    store.apply([txn("a", 0, customer="C9", device_id="D1")])
    client = redis.Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in client.scan_iter(f"{key_prefix}:*"))
    customer = [f"{key_prefix}:{{C9}}:st"]
    device = [bucket_key(key_prefix, "v", "D1", 65_536)]  # the store's default buckets
    assert keys == sorted(customer + device)
    assert sorted(client.hkeys(device[0])) == [b"", b"vD1"], (
        "the device's blob is a field of its bucket"
    )
    assert all(client.pttl(k) > 0 for k in keys)
    assert all(client.pttl(k) <= 3600 * 1000 for k in customer)


def test_a_lost_redis_is_a_named_error(key_prefix: str) -> None:
    from detectors.state import StateUnavailable
    from riskwatch.services import free_port

    dead = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    with pytest.raises(StateUnavailable, match="batch of 1"):
        CustomerStateStore(dead, key_prefix, 86400, 3600).apply([txn("a", 0)])


def test_a_blob_packed_by_redis_cmsgpack_is_read(
    store: CustomerStateStore, redis_url: str, key_prefix: str
) -> None:
    """Blobs written before the fold moved to Python (by cmsgpack, empty maps as arrays)."""
    client = redis.Redis.from_url(redis_url)
    first = txn("a", 0, "credit", "100.00", customer="C7")
    old = (
        "redis.call('SET', KEYS[1], cmsgpack.pack({nw = ARGV[1] + 0, pd = -1, ids = {}, "
        "ev = {{ARGV[1] + 0, 'a', 'c', 'p', 'o', 10000, '', '', '', '', '', '', ''}}, b = {}, "
        "seen = {}, lt = -1, lc = {}, geo = {-1, '', ''}, sal = {}, "
        "k = {transfer_in = {1, 10000, 0}}}))"
    )
    client.eval(old, 1, f"{key_prefix}:{{C7}}:st", first.ts_ms)
    again, second = store.apply([first, txn("b", 5, customer="C7")])
    assert again.fresh is False, "the old blob's log holds 'a'"
    assert totals(second, 3600) == (1, 1000, 1, 10000)
    assert second.baseline[0] == 0, "'purchase' has no baseline yet"


def test_a_blob_of_the_former_map_layout_keeps_its_history(
    store: CustomerStateStore, redis_url: str, key_prefix: str
) -> None:
    """Day buckets, sightings, folded ids and summaries of a map-layout blob carry over."""
    import msgpack

    from detectors.features import build_features

    client = redis.Redis.from_url(redis_url)
    t0 = txn("x", 0).ts_ms
    day = t0 // 86_400_000
    old = {
        "nw": t0 + 3_600_000, "pd": day, "ids": {"old1": t0}, "ev": [],
        "b": {str(day): {"dp": [2, 3000], "cp": [1, 50000], "mx": 50000, "xo": [1, 1000]}},
        "seen": {"mM1": t0, "dD1": t0, "cCN": t0, "pP1": t0, "k5411": t0},
        "lt": t0 + 3_600_000, "lc": {"p": t0 + 3_600_000}, "geo": [-1, "", ""], "sal": [],
        "k": {"purchase": [2, 1500.0, 5000.0]},
    }  # fmt: skip
    client.set(f"{key_prefix}:{{C1}}:st", msgpack.packb(old))
    later = txn("new", 3 * 24 * 60 + 60, device_id="D1", merchant_id="M2", country="CN")
    replay, fresh = store.apply([txn("old1", 0), later])
    assert replay.fresh is False, "the folded id is remembered"
    f = build_features(later, fresh, ZoneInfo("UTC"))
    assert f["debit_count_30d"] == 3 and f["debit_count_24h"] == 1
    assert f["cash_out_count_7d"] == 1 and f["max_inflow_30d"] == 500.0
    assert f["new_device"] == 0.0 and f["new_country"] == 0.0
    assert f["distinct_merchants_30d"] == 2.0, "M1 (folded) and M2"
    assert f["seconds_since_last"] == 3 * 86400
    assert f["baseline_n"] == 2.0


def test_a_lateness_the_entity_blob_cannot_hold_is_refused(redis_url: str) -> None:
    """An entity's 5-minute buckets are 1 h + the lateness deep, each one's distance in a
    byte: up to 20 h 15 min of lateness (the settings allow 20 h)."""
    client = redis.Redis.from_url(redis_url)
    with pytest.raises(ValueError, match="too long"):
        CustomerStateStore(client, "x", 8 * 86400, 3600, allowed_lateness_seconds=72_901)
    CustomerStateStore(client, "x", 8 * 86400, 3600, allowed_lateness_seconds=72_900)


def test_a_customer_blob_is_stored_compressed_and_a_plain_one_still_reads(
    store: CustomerStateStore, redis_url: str, key_prefix: str
) -> None:
    import msgpack

    from detectors.customer_fold import dump, load, new_state

    client = redis.Redis.from_url(redis_url)
    store.apply([txn(f"t{i}", 10 * i, customer="C5", merchant_id=f"M{i % 7}") for i in range(60)])
    raw = client.get(f"{key_prefix}:{{C5}}:st")
    assert raw is not None and raw.startswith(b"\x28\xb5\x2f\xfd"), "a zstd frame"
    state = load(raw)
    plain = msgpack.packb(state, use_bin_type=True)
    assert len(raw) < len(plain)
    assert load(plain) == state, "a blob written before compression reads the same"
    client.set(f"{key_prefix}:{{C5}}:st", plain)
    fresh = CustomerStateStore(client, key_prefix, 8 * 86400, 3600, 3600)
    (update,) = fresh.apply([txn("t60", 600, customer="C5", merchant_id="M0")])
    assert totals(update, 86400)[0] == 61
    assert not dump(new_state()).startswith(b"\x28\xb5\x2f\xfd"), "too small to shrink: as is"
