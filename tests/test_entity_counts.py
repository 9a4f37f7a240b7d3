"""Entity counts of many customers against the brute-force reference, on a real Redis.

tests/test_features_reference.py draws one customer's traffic, so its
entities never see a second customer. Here many customers share a few
terminals, merchants, devices and counterparties: enough of them that an
entity's customers move from its blob to a sorted set and back (past
``INLINE_CUSTOMERS``), delivered out of order within the allowed lateness,
with duplicates, in batches of several sizes, with every entity in one
bucket hash or each in its own. The entity state the events leave must not
depend on the order they arrive in: fed again in time order, one by one,
they leave the same bytes.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.entity_state import INLINE_CUSTOMERS, bucket_key
from detectors.state import ENTITY_WINDOWS, CustomerStateStore, window_label
from riskwatch.contracts import Transaction
from tests.feature_reference import entity_features
from tests.flowkit import redis_state

T0 = datetime(2026, 1, 5, tzinfo=UTC)
LATENESS_S = 3600
DEDUP_S = 8 * 86400
CUSTOMERS = INLINE_CUSTOMERS + 12


def maybe(values: tuple[str, ...]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(values))


event = st.fixed_dictionaries(
    {
        # Days a week apart, so that customers reach the 7-day cut-off within
        # the lateness; the first two hours of a day, so that windows fill.
        "minute": st.tuples(st.sampled_from((0, 1, 2, 7, 8, 9, 15)), st.integers(0, 120)).map(
            lambda dm: dm[0] * 1440 + dm[1]
        ),
        "delay": st.integers(0, LATENESS_S // 60),
        "customer": st.integers(0, CUSTOMERS - 1),
        # Mostly M1: it gathers more than INLINE_CUSTOMERS customers.
        "merchant_id": st.sampled_from(("M1", "M1", "M1", "M2", None)),
        "terminal_id": maybe(("T1",)),
        "device_id": maybe(("D1", "D2")),
        "counterparty_account": maybe(("P1",)),
        "repeat": st.booleans(),
    }
)


def to_txn(i: int, e: dict) -> Transaction:
    return Transaction(
        txn_id=f"t{i}",
        ts=T0 + timedelta(minutes=e["minute"], seconds=i % 60),
        customer_id=f"C{e['customer']:03d}",
        account_id="A1",
        channel="pos",
        direction="debit",
        kind="purchase",
        amount=Decimal("10.00"),
        currency="CNY",
        merchant_id=e["merchant_id"],
        terminal_id=e["terminal_id"],
        device_id=e["device_id"],
        counterparty_account=e["counterparty_account"],
    )


def expected(features: dict[str, float], prefix: str) -> tuple[int, ...]:
    labels = [window_label(s) for s in ENTITY_WINDOWS]
    return tuple(int(features[f"{prefix}_{stem}_{label}"]) for stem in ("count", "customers")
                 for label in labels)  # fmt: skip


def compare(store: CustomerStateStore, delivered: list[Transaction], batch: int) -> int:
    """Feed the store in batches; return how many entity counts were compared."""
    arrived: list[Transaction] = []
    first: dict[str, Transaction] = {}
    compared = 0
    for start in range(0, len(delivered), batch):
        chunk = delivered[start : start + batch]
        for txn, update in zip(chunk, store.apply(chunk), strict=True):
            fresh = txn.txn_id not in first
            assert update.fresh is fresh or update.stale, txn.txn_id
            if fresh:
                first[txn.txn_id] = txn
                arrived.append(txn)
            seen = first[txn.txn_id]
            if update.stale or seen.ts_ms < max(e.ts_ms for e in arrived) - LATENESS_S * 1000:
                continue  # a repeat days behind: its entities may have dropped what it needs
            want = entity_features(arrived, seen)
            prefixes = {p for p in ("terminal", "merchant", "device", "counterparty")
                        if want[f"{p}_count_1h"] > 0}  # fmt: skip
            assert set(update.entities) == prefixes, txn.txn_id
            for prefix in prefixes:
                assert update.entities[prefix] == expected(want, prefix), (
                    f"{prefix} of {txn.txn_id} ({'fresh' if fresh else 'duplicate'})"
                )
                compared += 1
    return compared


def arrival_order(events: list[dict]) -> list[Transaction]:
    txns = [to_txn(i, e) for i, e in enumerate(events)]
    order = sorted(range(len(txns)), key=lambda i: (events[i]["minute"] + events[i]["delay"], i))
    return [txns[i] for i in order] + [txns[i] for i in order if events[i]["repeat"]]


@settings(
    max_examples=int(os.environ.get("ENTITY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=st.lists(event, min_size=60, max_size=150),
    batch=st.sampled_from((1, 9, 200)),
    buckets=st.sampled_from((1, 65_536)),
)
def test_entity_counts_match_the_reference(
    redis_url: str, events: list, batch: int, buckets: int
) -> None:
    client = redis.Redis.from_url(redis_url)
    ns, again = f"e{uuid.uuid4().hex[:8]}", f"e{uuid.uuid4().hex[:8]}"
    store = CustomerStateStore(client, ns, DEDUP_S, 40 * 86400, LATENESS_S, entity_buckets=buckets)
    delivered = arrival_order(events)
    compare(store, delivered, batch)
    in_time = CustomerStateStore(
        client, again, DEDUP_S, 40 * 86400, LATENESS_S, entity_buckets=buckets
    )
    for txn in sorted(delivered, key=lambda t: (t.ts_ms, t.txn_id)):
        in_time.apply([txn])
    assert entity_state(redis_url, again) == entity_state(redis_url, ns)


def entity_state(redis_url: str, namespace: str) -> dict:
    """The namespace's entity keys and bucket hashes (their hash tags hold a "|")."""
    return {k: v for k, v in redis_state(redis_url, namespace).items() if "|" in k.split("}")[0]}


def test_customers_move_to_a_zset_and_back(redis_url: str, key_prefix: str) -> None:
    """Past INLINE_CUSTOMERS customers at a merchant, then back once they have expired."""
    client = redis.Redis.from_url(redis_url)
    store = CustomerStateStore(
        client, key_prefix, DEDUP_S, 40 * 86400, LATENESS_S, entity_buckets=1
    )
    # One customer every 100 minutes for three days: the 1 h, 24 h and 7 d
    # customer counts all differ.
    crowd = [
        {"minute": 100 * m, "delay": 0, "customer": m % CUSTOMERS, "merchant_id": "M1",
         "terminal_id": None, "device_id": None, "counterparty_account": None, "repeat": False}
        for m in range(CUSTOMERS + 5)
    ]  # fmt: skip
    later = [dict(crowd[0], minute=12 * 1440 + i, customer=i) for i in range(3)]
    zset = f"{key_prefix}:{{m|M1}}:c"
    txns = [to_txn(i, e) for i, e in enumerate(crowd + later)]
    assert compare(store, txns[: len(crowd)], batch=10) == len(crowd)
    assert client.zcard(zset) == CUSTOMERS, "more than INLINE_CUSTOMERS: in the zset"
    assert compare(store, txns[len(crowd) :], batch=10) == len(later)
    assert not client.exists(zset), "three customers left: back in the blob"
    (update,) = store.apply([to_txn(99, dict(crowd[0], minute=12 * 1440 + 5, customer=7))])
    assert update.entities["merchant"] == (4, 4, 4, 4, 4, 4)


def test_a_long_blob_has_its_own_key_and_a_short_one_a_field(
    redis_url: str, key_prefix: str
) -> None:
    """A merchant with many customers moves out of the bucket, and back once they have left."""
    client = redis.Redis.from_url(redis_url)
    store = CustomerStateStore(
        client, key_prefix, DEDUP_S, 40 * 86400, LATENESS_S, entity_buckets=1
    )
    (bucket,) = {bucket_key(key_prefix, "m", "M1", 1), bucket_key(key_prefix, "v", "D1", 1)}
    own = f"{key_prefix}:{{m|M1}}"
    visit = {"delay": 0, "merchant_id": "M1", "terminal_id": None, "device_id": None,
             "counterparty_account": None, "repeat": False}  # fmt: skip
    crowd = [dict(visit, minute=m, customer=m) for m in range(8)]
    later = [dict(visit, minute=8 * 1440 + 120, customer=0)]
    device = [dict(visit, minute=0, customer=0, merchant_id=None, device_id="D1")]
    txns = [to_txn(i, e) for i, e in enumerate(crowd + device + later)]
    assert compare(store, txns[:9], batch=3) == 9
    assert client.exists(own), "eight customers do not fit in a listpack field"
    assert client.hkeys(bucket) == [b"", b"vD1"]
    assert compare(store, txns[9:], batch=1) == 1
    assert not client.exists(own), "one customer left: back in the bucket"
    assert sorted(client.hkeys(bucket)) == [b"", b"mM1", b"vD1"]


#: An event of customer C000 at no entity: a test adds the ones it visits.
USE = {"delay": 0, "customer": 0, "merchant_id": None, "terminal_id": None,
       "counterparty_account": None, "repeat": False}  # fmt: skip


def one_bucket(redis_url: str, key_prefix: str) -> tuple[redis.Redis, CustomerStateStore, str]:
    """A client, a store whose entities all share one bucket, and that bucket's key."""
    client = redis.Redis.from_url(redis_url)
    store = CustomerStateStore(
        client, key_prefix, DEDUP_S, 40 * 86400, LATENESS_S, entity_buckets=1
    )
    return client, store, bucket_key(key_prefix, "v", "D1", 1)


def test_an_inactive_entity_leaves_its_bucket(redis_url: str, key_prefix: str) -> None:
    """Fields cannot expire: one whose newest event is 8 days + lateness behind is swept."""
    client, store, bucket = one_bucket(redis_url, key_prefix)
    use = USE
    # D1 at 00:02 on day 0; D2 on day 8 at 23:59, then on day 9: the bucket's
    # newest enters a day whose start minus 8 days + lateness is past D1's newest.
    days = [dict(use, minute=2, device_id="D1"), dict(use, minute=9 * 1440 - 1, device_id="D2"),
            dict(use, minute=9 * 1440, device_id="D2")]  # fmt: skip
    txns = [to_txn(i, e) for i, e in enumerate(days)]
    store.apply(txns[:2])
    assert sorted(client.hkeys(bucket)) == [b"", b"vD1", b"vD2"]
    store.apply(txns[2:])
    assert sorted(client.hkeys(bucket)) == [b"", b"vD2"]
    (late,) = store.apply([to_txn(3, dict(use, minute=3, customer=1, device_id="D1"))])
    assert late.entities["device"] == (1, 1, 1, 1, 1, 1), "read as new, not as what was swept"
    assert sorted(client.hkeys(bucket)) == [b"", b"vD2"], "recorded already expired"


def test_a_bucket_holds_its_newest_event_as_decimal_ms(redis_url: str, key_prefix: str) -> None:
    """The field "" of a bucket: its entities' newest event, in ms, as decimal digits (the
    script writes the text itself); the fields stay in the order they were first set,
    whichever of a call's writes set them."""
    client, store, bucket = one_bucket(redis_url, key_prefix)
    use = USE
    first = [dict(use, minute=5, device_id="D2"), dict(use, minute=3, device_id="D1"),
             dict(use, minute=4, customer=1, device_id="D3")]  # fmt: skip
    then = [dict(use, minute=30, device_id="D1"), dict(use, minute=20, device_id="D4")]
    txns = [to_txn(i, e) for i, e in enumerate(first + then)]
    store.apply(txns[:3])
    assert client.hget(bucket, "") == str(txns[0].ts_ms).encode()
    assert client.hkeys(bucket) == [b"vD2", b"vD1", b"vD3", b""]
    store.apply(txns[3:])
    assert client.hget(bucket, "") == str(txns[3].ts_ms).encode()
    assert client.hkeys(bucket) == [b"vD2", b"vD1", b"vD3", b"", b"vD4"]


def _blob(nw: int, count: int, width: int, customers: list[tuple[str, int]]) -> bytes:
    """An entity blob as entities.lua lays it out: one bucket per ring, at distance 0."""
    ring = bytes([0]) + count.to_bytes(width, "little")
    head = nw.to_bytes(6, "little") + bytes([1, 1, 1, width, len(customers)])
    tail = b"".join(c.encode() + b"\0" + age.to_bytes(4, "little") for c, age in customers)
    return head + ring * 3 + tail


@pytest.mark.parametrize(("count", "width"), [(255, 2), (300, 2), (70_000, 4)])
def test_counts_past_a_byte_keep_their_width(
    redis_url: str, key_prefix: str, count: int, width: int
) -> None:
    """A blob whose counts need two or four bytes reads and writes them whole.

    Nearly every blob has width 1, which the script reads and writes as plain
    bytes; this one takes its struct path. A count of 255 read at width 1
    needs width 2 once the event adds one.
    """
    client = redis.Redis.from_url(redis_url)
    store = CustomerStateStore(
        client, key_prefix, DEDUP_S, 40 * 86400, LATENESS_S, entity_buckets=1
    )
    bucket = bucket_key(key_prefix, "m", "M1", 1)
    visit = {"delay": 0, "merchant_id": "M1", "terminal_id": None, "device_id": None,
             "counterparty_account": None, "repeat": False}  # fmt: skip
    read_width = 1 if count < 256 else width
    nw = to_txn(0, dict(visit, minute=10, customer=0)).ts_ms
    client.hset(bucket, "mM1", _blob(nw, count, read_width, [("C000", 0)]))
    txn = to_txn(1, dict(visit, minute=10, customer=1))
    (update,) = store.apply([txn])
    assert update.entities["merchant"] == (count + 1,) * 3 + (2,) * 3
    after = [("C000", txn.ts_ms - nw), ("C001", 0)]
    assert client.hget(bucket, "mM1") == _blob(txn.ts_ms, count + 1, width, after)


def test_the_longest_allowed_lateness_keeps_entity_windows_exact(
    redis_url: str, key_prefix: str
) -> None:
    """An entity keeps its 5-minute buckets back to 1 h + the lateness before its newest
    event, each bucket's distance back in one byte: at the longest lateness the
    settings allow, an event hours old must never read as one minutes old."""
    from riskwatch.settings import StateSettings

    bounds = StateSettings.model_fields["allowed_lateness_seconds"].metadata
    lateness_s = next(b.le for b in bounds if hasattr(b, "le"))
    client = redis.Redis.from_url(redis_url)
    store = CustomerStateStore(
        client, key_prefix, DEDUP_S, 40 * 86400, lateness_s, entity_buckets=1
    )
    visit = {"delay": 0, "merchant_id": None, "device_id": None,
             "counterparty_account": None, "repeat": False}  # fmt: skip
    # Per terminal a visit, one `gap` minutes later and one a minute after that
    # (which reads the blob the second wrote). A distance of 256-267 buckets
    # (21 h 20 min to 22 h 15 min) cut to a byte would read as under an hour.
    # In time order: compare() checks the events no later than an hour behind.
    gaps = range(20 * 60, 23 * 60, 7)
    visits = sorted(
        (dict(visit, minute=minute, customer=n, terminal_id=f"T{gap}")
         for n, gap in enumerate(gaps) for minute in (0, gap, gap + 1)),
        key=lambda v: v["minute"],
    )  # fmt: skip
    txns = [to_txn(i, v) for i, v in enumerate(visits)]
    assert compare(store, txns, batch=1) == len(txns)
