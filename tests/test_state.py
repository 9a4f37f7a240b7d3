"""The Redis window state against a brute-force reference, on a real Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.state import CustomerStateStore
from riskwatch.contracts import Transaction

T0 = datetime(2026, 1, 5, tzinfo=UTC)
WINDOWS = (3600, 86400)


def txn(txn_id: str, minutes: float, direction: str = "debit", amount: str = "10.00",
        customer: str = "C1") -> Transaction:  # fmt: skip
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
    )


@pytest.fixture
def store(redis_url: str, key_prefix: str) -> CustomerStateStore:
    client = redis.Redis.from_url(redis_url)
    return CustomerStateStore(client, key_prefix, WINDOWS, 8 * 86400, 3600, 3600)


def totals(update, seconds: int) -> tuple[int, int, int, int]:
    w = next(w for w in update.windows if w.seconds == seconds)
    return (w.debit_count, w.debit_sum_minor, w.credit_count, w.credit_sum_minor)


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


def test_a_duplicate_txn_id_changes_nothing(store: CustomerStateStore) -> None:
    first = store.apply([txn("a", 0), txn("b", 5)])
    again = store.apply([txn("b", 5), txn("c", 6)])
    assert [u.fresh for u in first] == [True, True]
    assert again[0].fresh is False
    assert totals(again[0], 3600) == totals(first[1], 3600), "assessed as first seen"
    assert totals(again[1], 3600) == (3, 3000, 0, 0), "the duplicate was not counted twice"


def test_an_out_of_order_event_lands_in_its_own_windows(store: CustomerStateStore) -> None:
    store.apply([txn("a", 0), txn("b", 80)])
    (late,) = store.apply([txn("late", 30)])
    assert late.late is False, "50 minutes behind is within the allowed hour"
    assert totals(late, 3600) == (2, 2000, 0, 0), "sees 'a' (30 min before), not 'b' (after)"


def test_an_event_beyond_the_allowed_lateness_is_flagged(store: CustomerStateStore) -> None:
    store.apply([txn("a", 0), txn("b", 24 * 60 * 3)])
    (late,) = store.apply([txn("very_late", 10)])
    assert late.late is True
    assert late.fresh is True, "still recorded, so a replay of it is a duplicate"


def test_customers_do_not_share_state(store: CustomerStateStore) -> None:
    store.apply([txn("a", 0, customer="C1")])
    (other,) = store.apply([txn("b", 1, customer="C2")])
    assert totals(other, 3600) == (1, 1000, 0, 0)


def test_keys_expire_and_carry_the_customer_hash_tag(
    store: CustomerStateStore, redis_url: str, key_prefix: str
) -> None:
    store.apply([txn("a", 0, customer="C9")])
    client = redis.Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in client.scan_iter(f"{key_prefix}:*"))
    assert keys == [f"{key_prefix}:{{C9}}:ev", f"{key_prefix}:{{C9}}:ids"]
    assert all(0 < client.pttl(k) <= 3600 * 1000 for k in keys)


def test_a_lost_redis_is_a_named_error(key_prefix: str) -> None:
    from detectors.state import StateUnavailable
    from riskwatch.services import free_port

    dead = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    with pytest.raises(StateUnavailable, match="batch of 1"):
        CustomerStateStore(dead, key_prefix, WINDOWS, 86400, 3600).apply([txn("a", 0)])


events = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=30),  # txn id (repeats are duplicates)
        st.integers(min_value=0, max_value=3 * 24 * 60),  # minute of event time
        st.sampled_from(["debit", "credit"]),
        st.integers(min_value=1, max_value=500_000),  # minor units
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=events)
def test_windows_match_a_brute_force_reference(redis_url: str, events: list) -> None:
    import uuid

    client = redis.Redis.from_url(redis_url)
    lateness_ms = 2 * 3600 * 1000
    store = CustomerStateStore(
        client, f"h{uuid.uuid4().hex[:8]}", WINDOWS, 30 * 86400, 600, lateness_ms // 1000
    )
    seen: dict[str, tuple[int, str, int]] = {}
    newest = 0
    batch = [
        txn(f"t{i}", minute, direction, f"{amount / 100:.2f}")
        for i, minute, direction, amount in events
    ]
    for t, update in zip(batch, store.apply(batch), strict=True):
        first = t.txn_id not in seen
        assert update.fresh is first
        if first:
            seen[t.txn_id] = (t.ts_ms, t.direction, t.amount_minor)
            newest = max(newest, t.ts_ms)
        as_of = seen[t.txn_id][0]
        assert update.late is (as_of < newest - lateness_ms)
        if update.late:
            continue  # the stated rule: beyond the allowed lateness, windows may be short
        for seconds in WINDOWS:
            inside = [v for v in seen.values() if as_of - seconds * 1000 < v[0] <= as_of]
            expected = (
                sum(1 for v in inside if v[1] == "debit"),
                sum(v[2] for v in inside if v[1] == "debit"),
                sum(1 for v in inside if v[1] == "credit"),
                sum(v[2] for v in inside if v[1] == "credit"),
            )
            assert totals(update, seconds) == expected
