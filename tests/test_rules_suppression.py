"""Suppression windows on a real Redis: per rule and entity, in event time, replay-safe."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
import redis

from riskwatch.contracts import Transaction
from riskwatch.parsing import ValidationLimits, parse_transaction
from rules.engine import Evaluation, RuleEngine, count_outcomes
from rules.pack import parse_pack
from rules.suppression import RuleSuppressor
from tests.flowkit import T0, txn
from tests.rulekit import FEATURES

PACK = """
pack: quiet
version: 3
rules:
  - id: big_purchase
    version: 4
    description: a big purchase, at most one alert per card an hour
    typology: test
    severity: high
    score: 60
    entity: card
    mode: active
    suppress: 1h
    when: amount >= 1000
  - id: big_any
    version: 1
    description: a big amount, never suppressed
    typology: test
    severity: low
    score: 10
    entity: customer
    mode: active
    when: amount >= 1000
"""


@pytest.fixture
def engine() -> RuleEngine:
    return RuleEngine([parse_pack(PACK, "quiet.yaml", FEATURES)])


@pytest.fixture
def suppressor(redis_url: str, key_prefix: str) -> RuleSuppressor:
    return RuleSuppressor(redis.Redis.from_url(redis_url), key_prefix, horizon_seconds=86400)


def purchase(n: int, minutes: float, card: str = "card-a", **changes: Any) -> Transaction:
    record = txn(n, "C001", minutes, **{"amount": "1500.00", "card_id": card, **changes})
    return parse_transaction(orjson.dumps(record), T0 + timedelta(days=30), ValidationLimits())


def decide(
    engine: RuleEngine, suppressor: RuleSuppressor, txns: list[Transaction]
) -> list[Evaluation]:
    evaluations = [engine.evaluate({"amount": float(t.amount)}) for t in txns]
    return suppressor.apply(txns, evaluations)


def held(evaluations: list[Evaluation]) -> list[tuple[str, ...]]:
    return [tuple(h.rule_id for h in e.suppressed) for e in evaluations]


def test_a_rule_stays_quiet_for_the_same_card_within_its_window(
    engine: RuleEngine, suppressor: RuleSuppressor
) -> None:
    txns = [purchase(1, 0), purchase(2, 30), purchase(3, 59.9), purchase(4, 60), purchase(5, 61)]
    out = decide(engine, suppressor, txns)
    assert held(out) == [(), ("big_purchase",), ("big_purchase",), (), ("big_purchase",)]
    # The rule without a window fires every time, and the held hit leaves the alert's hits.
    assert [[h.rule_id for h in e.hits] for e in out][1] == ["big_any"]
    counts = count_outcomes(out)
    assert counts[("big_purchase", "active", "hit")] == 2
    assert counts[("big_purchase", "active", "suppressed")] == 3


def test_another_card_is_not_suppressed(engine: RuleEngine, suppressor: RuleSuppressor) -> None:
    out = decide(engine, suppressor, [purchase(1, 0), purchase(2, 5, card="card-b")])
    assert held(out) == [(), ()]


def test_a_replay_or_a_restart_gives_the_same_decisions(
    engine: RuleEngine, redis_url: str, key_prefix: str
) -> None:
    txns = [purchase(i, minutes) for i, minutes in enumerate((0, 20, 70, 75, 200, 201), start=1)]
    first = decide(engine, RuleSuppressor(redis.Redis.from_url(redis_url), key_prefix, 86400), txns)
    # A new process (nothing in memory) reads the same events again, in two batches.
    again = RuleSuppressor(redis.Redis.from_url(redis_url), key_prefix, 86400)
    replay = decide(engine, again, txns[:3]) + decide(engine, again, txns[3:])
    quiet = ("big_purchase",)
    assert held(replay) == held(first) == [(), quiet, (), quiet, (), quiet]
    # A replay of only a later part, after the whole was recorded, agrees too.
    assert held(decide(engine, again, txns[3:])) == held(first)[3:]


def test_a_late_event_is_decided_on_event_time_not_arrival(
    engine: RuleEngine, suppressor: RuleSuppressor
) -> None:
    # 09:30 arrives after 10:00 fired: it fires too (nothing before it within the hour),
    # and 10:10 is suppressed by either.
    out = decide(engine, suppressor, [purchase(1, 60), purchase(2, 30), purchase(3, 70)])
    assert held(out) == [(), (), ("big_purchase",)]


def test_a_batch_takes_one_round_trip(
    engine: RuleEngine, suppressor: RuleSuppressor, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    execute = redis.client.Pipeline.execute

    def counted(self: redis.client.Pipeline, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(self.command_stack))
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
    decide(engine, suppressor, [purchase(i, i) for i in range(1, 41)])
    assert len(calls) == 1
    small = [purchase(100, 0, amount="20.00")]
    decide(engine, suppressor, small)
    assert len(calls) == 1, "no hit of a rule with a window: no round trip at all"


def test_firings_are_kept_by_event_time_and_expire(
    suppressor: RuleSuppressor, redis_url: str, key_prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    pack = parse_pack(PACK, "quiet.yaml", FEATURES)
    t = purchase(1, 0)
    suppressor.apply([t], [RuleEngine([pack]).evaluate({"amount": 1500.0})])
    (name,) = [k for k in client.scan_iter(f"{key_prefix}:*") if k.endswith(b":sup:big_purchase")]
    assert b"card=card-a" in name
    assert client.zrange(name, 0, -1, withscores=True) == [(b"T000001", float(t.ts_ms))]
    assert 0 < client.pttl(name) <= (3600 + 86400) * 1000
