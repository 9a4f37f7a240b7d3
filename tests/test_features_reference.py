"""Every state feature against a brute-force reference, on a real Redis.

Hypothesis draws a month and more of one customer's traffic over every
channel, delivers it out of order (up to twice the allowed lateness, so some
events are late) with duplicates, and compares each feature the store and
builder make with the reference in tests/feature_reference.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.features import build_features, feature_names
from detectors.state import CustomerStateStore
from riskwatch.contracts import CHANNELS, Transaction
from tests.feature_reference import Reference

T0 = datetime(2026, 1, 5, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")
LATENESS_S = 3600
DEDUP_S = 8 * 86400
KINDS = ("purchase", "cash_withdrawal", "cash_deposit", "salary", "transfer_in", "transfer_out")
PLACES = ((31.23, 121.47), (31.30, 121.50), (39.90, 116.40))


def maybe(values: tuple[str, ...]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(values))


event = st.fixed_dictionaries(
    {
        # Days 0-40, clustered in the first three hours of a day so that the
        # minute windows fill up too.
        "minute": st.tuples(st.integers(0, 40), st.integers(0, 180)).map(
            lambda dm: dm[0] * 1440 + dm[1]
        ),
        "delay": st.integers(0, 2 * LATENESS_S // 60),
        "channel": st.sampled_from(CHANNELS),
        "direction": st.sampled_from(("debit", "credit")),
        "kind": st.sampled_from(KINDS),
        "amount": st.integers(1, 500_000),
        "merchant_id": maybe(("M1", "M2", "M3")),
        "terminal_id": maybe(("T1", "T2")),
        "device_id": maybe(("D1", "D2", "D3")),
        "country": maybe(("CN", "HK")),
        "counterparty_account": maybe(("P1", "P2", "P3")),
        "mcc": maybe(("5411", "5944")),
        "place": st.one_of(st.none(), st.sampled_from(PLACES)),
        "repeat": st.booleans(),
    }
)


def to_txn(i: int, e: dict) -> Transaction:
    place = e["place"]
    return Transaction(
        txn_id=f"t{i}",
        ts=T0 + timedelta(minutes=e["minute"]),
        customer_id="C1",
        account_id="A1",
        channel=e["channel"],
        direction=e["direction"],
        kind=e["kind"],
        amount=Decimal(e["amount"]) / 100,
        currency="CNY",
        merchant_id=e["merchant_id"],
        terminal_id=e["terminal_id"],
        device_id=e["device_id"],
        country=e["country"],
        counterparty_account=e["counterparty_account"],
        mcc=e["mcc"],
        lat=place[0] if place else None,
        lon=place[1] if place else None,
    )


def arrival_order(events: list[dict]) -> list[Transaction]:
    """Sorted by event time plus a delay; a repeat is delivered again at the end."""
    txns = [to_txn(i, e) for i, e in enumerate(events)]
    order = sorted(range(len(txns)), key=lambda i: (events[i]["minute"] + events[i]["delay"], i))
    delivered = [txns[i] for i in order]
    delivered += [txns[i] for i in order if events[i]["repeat"]]
    return delivered


def compare(store: CustomerStateStore, delivered: list[Transaction], batch: int) -> int:
    """Feed the store in batches; return how many events were compared in full."""
    reference = Reference(LATENESS_S * 1000, DEDUP_S * 1000, TZ)
    compared = 0
    for start in range(0, len(delivered), batch):
        chunk = delivered[start : start + batch]
        for txn, update in zip(chunk, store.apply(chunk), strict=True):
            fresh, late, expected = reference.assess(txn)
            assert update.fresh is fresh, txn.txn_id
            assert update.late is late, txn.txn_id
            if late:
                continue  # the stated rule: a late event's own history may be short
            got = build_features(txn, update, TZ)
            assert set(got) == set(expected) | set(), "the reference covers every name"
            for name, want in expected.items():
                if isinstance(want, float):
                    assert got[name] == pytest.approx(want, rel=1e-9, abs=1e-9), (
                        f"{name} of {txn.txn_id} ({'fresh' if fresh else 'duplicate'})"
                    )
                else:
                    assert got[name] == want, name
            compared += 1
    return compared


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=st.lists(event, min_size=1, max_size=50, unique_by=lambda e: e["minute"]),
    batch=st.sampled_from((1, 7, 100)),
)
def test_every_feature_matches_the_reference(redis_url: str, events: list, batch: int) -> None:
    client = redis.Redis.from_url(redis_url)
    store = CustomerStateStore(client, f"h{uuid.uuid4().hex[:8]}", DEDUP_S, 40 * 86400, LATENESS_S)
    compare(store, arrival_order(events), batch)


def test_the_reference_and_the_builder_name_the_same_features() -> None:
    txn = to_txn(0, {"minute": 0, "channel": "pos", "direction": "debit", "kind": "purchase",
                     "amount": 100, "merchant_id": None, "terminal_id": None, "device_id": None,
                     "country": None, "counterparty_account": None, "mcc": None,
                     "place": None})  # fmt: skip
    _, _, expected = Reference(LATENESS_S * 1000, DEDUP_S * 1000, TZ).assess(txn)
    assert set(expected) == feature_names()


def test_a_long_history_exercises_the_day_buckets(redis_url: str, key_prefix: str) -> None:
    """Forty days of two events a day: 7 d and 30 d windows come mostly from buckets."""
    client = redis.Redis.from_url(redis_url)
    store = CustomerStateStore(client, key_prefix, DEDUP_S, 40 * 86400, LATENESS_S)
    events = [
        {"minute": d * 1440 + m, "delay": 0, "channel": CHANNELS[(d + m) % 6],
         "direction": ("debit", "credit")[d % 2], "kind": KINDS[(d * 7 + m) % 6],
         "amount": 1000 + d * 37 + m, "merchant_id": f"M{d % 5}", "terminal_id": "T1",
         "device_id": f"D{d % 3}", "country": "CN", "counterparty_account": f"P{d % 4}",
         "mcc": "5411", "place": PLACES[d % 3], "repeat": d % 9 == 0}
        for d in range(40)
        for m in (30, 700)
    ]  # fmt: skip
    compared = compare(store, arrival_order(events), batch=25)
    # The repeats come at the end, days late: compared only for their flags.
    assert compared == len(events)
