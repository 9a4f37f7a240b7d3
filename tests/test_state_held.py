"""Held customer states (detectors/held_states.py): what a worker keeps is what Redis has.

The features of a stream must not depend on whether a customer's state was
held, evicted and read again, or read by a restarted worker; and a batch
that fails midway must not leave its customers' held states ahead of Redis.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
import redis

import detectors.state as state_module
from detectors.features import build_features
from detectors.state import CustomerStateStore
from riskwatch.contracts import Transaction
from simulator import SimulationConfig, simulate

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def traffic() -> list[Transaction]:
    return [e.txn for e in simulate(SimulationConfig(seed=5, customers=12, days=6))]


def store(redis_url: str, ns: str, held: int = 20_000) -> CustomerStateStore:
    client = redis.Redis.from_url(redis_url)
    return CustomerStateStore(client, ns, 3 * 86400, 40 * 86400, 3600, held_customers=held)


def features(s: CustomerStateStore, txns: list[Transaction], batch: int = 50) -> list[dict]:
    out = []
    for i in range(0, len(txns), batch):
        chunk = txns[i : i + batch]
        out += [build_features(t, u, TZ) for t, u in zip(chunk, s.apply(chunk), strict=True)]
    return out


def test_evicting_and_reading_again_gives_the_same_features(
    traffic: list[Transaction], redis_url: str, key_prefix: str
) -> None:
    held = features(store(redis_url, f"{key_prefix}a"), traffic)
    evicted = features(store(redis_url, f"{key_prefix}b", held=1), traffic)
    assert evicted == held
    assert any(f["debit_count_7d"] > 3 for f in held), "customers have history"


def test_the_store_counts_the_blobs_it_reads_and_writes(
    traffic: list[Transaction], redis_url: str, key_prefix: str
) -> None:
    """One read per customer not held and one compressed write per customer and batch."""
    batches = [traffic[i : i + 50] for i in range(0, len(traffic), 50)]
    per_batch = sum(len({t.customer_id for t in b}) for b in batches)
    holding = store(redis_url, f"{key_prefix}a")
    features(holding, traffic)
    customers = len({t.customer_id for t in traffic})
    assert (holding.blobs_read, holding.blobs_written) == (customers, per_batch)
    evicting = store(redis_url, f"{key_prefix}b", held=1)
    features(evicting, traffic)
    assert customers < evicting.blobs_read <= per_batch
    assert evicting.blobs_written == per_batch


def test_a_restarted_worker_continues_from_what_redis_holds(
    traffic: list[Transaction], redis_url: str, key_prefix: str
) -> None:
    whole = features(store(redis_url, f"{key_prefix}a"), traffic)
    cut = len(traffic) // 2
    first = features(store(redis_url, f"{key_prefix}b"), traffic[:cut])
    second = features(store(redis_url, f"{key_prefix}b"), traffic[cut:])
    assert first + second == whole


def test_a_batch_that_fails_midway_is_replayed_without_double_counting(
    traffic: list[Transaction], redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = features(store(redis_url, f"{key_prefix}a"), traffic)
    s = store(redis_url, f"{key_prefix}b")
    cut = len(traffic) // 2
    before = features(s, traffic[:cut])
    batch = traffic[cut : cut + 50]
    real = state_module.fold_part

    def failing(txns: list[Transaction], *args: object) -> None:
        # The worker folds the part's first 29 events, then dies at the 30th.
        real(txns[:29], *args)
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(state_module, "fold_part", failing)
    with pytest.raises(RuntimeError):
        s.apply(batch)
    monkeypatch.setattr(state_module, "fold_part", real)
    # The failed batch's first 29 events changed the held states, never Redis.
    after = features(s, traffic[cut:])
    assert before + after == clean
