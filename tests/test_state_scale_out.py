"""Two Bytewax workers give exactly the features of one (real Redis, simulated traffic).

The flow here is the monitor's state path alone: customers keyed onto
shards, one ``apply`` per shard batch, ``build_features`` per event. Customer
features must match exactly. Features of entities several customers share
(a merchant, a terminal) count other customers' events as they arrive, which
two workers interleave differently; they are compared where the entity
belongs to one customer only (the customer's own devices), and the shared
ones are checked to exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import bytewax.operators as op
import redis
from bytewax.dataflow import Dataflow
from bytewax.operators import StatefulBatchLogic
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main

from detectors.features import build_features
from detectors.state import CustomerStateStore
from flows.assess import shard_of
from riskwatch.contracts import Transaction
from simulator import SimulationConfig, simulate

TZ = ZoneInfo("Asia/Shanghai")
SHARED = ("terminal_", "merchant_", "counterparty_count", "counterparty_customers")


class FeatureLogic(StatefulBatchLogic[Transaction, tuple[str, dict[str, Any]], None]):
    def __init__(self, store: CustomerStateStore) -> None:
        self._store = store

    def on_batch(self, values: list[Transaction]) -> tuple[list[Any], bool]:
        updates = self._store.apply(values)
        out = [
            (f"{t.customer_id}/{t.txn_id}", build_features(t, u, TZ))
            for t, u in zip(values, updates, strict=True)
        ]
        return out, StatefulBatchLogic.RETAIN

    def snapshot(self) -> None:
        return None


def features_with(workers: int, txns: list[Transaction], redis_url: str, ns: str) -> dict:
    store = CustomerStateStore(redis.Redis.from_url(redis_url), ns, 8 * 86400, 40 * 86400, 3600)
    flow = Dataflow("state_scale_out")
    txn_stream = op.input("in", flow, TestingSource(txns, 40))
    keyed = op.key_on("shard", txn_stream, lambda t: shard_of(t.customer_id, 8))
    assessed = op.stateful_batch("features", keyed, lambda _: FeatureLogic(store))
    out: list[tuple[str, dict[str, Any]]] = []
    op.output("out", op.key_rm("unkey", assessed), TestingSink(out))
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return dict(out)


def test_two_workers_give_the_features_of_one(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    txns = [e.txn for e in simulate(SimulationConfig(seed=3, customers=60, days=9))]
    one = features_with(1, txns, redis_url, f"{key_prefix}a")
    two = features_with(2, txns, redis_url, f"{key_prefix}b")
    assert len(one) == len(two) == len(txns)
    assert one.keys() == two.keys()
    compared = 0
    for name, features in one.items():
        mine = {k: v for k, v in features.items() if not k.startswith(SHARED)}
        theirs = {k: v for k, v in two[name].items() if not k.startswith(SHARED)}
        assert theirs == mine, name
        compared += len(mine)
    assert compared > 150 * len(txns), "nearly every feature is compared exactly"
    assert any(f["debit_count_30d"] > 20 for f in one.values()), "long windows are exercised"
