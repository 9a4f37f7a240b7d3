"""Per-rule suppression windows, kept in Redis so that restarts and replays agree.

A rule with ``suppress: 24h`` that fired for an entity (the customer, card,
device, ... its ``entity`` names) stays quiet for that entity for the next
24 hours of event time: its later hits are recorded as ``suppressed`` and do
not count toward an alert.

Decisions depend only on event time and ``txn_id``, never on wall time, so
replaying the same events gives the same decisions. Each (rule, entity) has
a sorted set of the transactions it fired on, scored by event time. A hit on
transaction ``t`` at time ``ts``:

- fires if ``t`` is already in the set (a replay of a hit that fired);
- is suppressed if another firing lies in ``(ts - window, ts]`` and comes
  before ``t`` in (event time, txn_id) order;
- otherwise fires and joins the set.

A replayed event sees the same earlier firings as it did the first time,
whatever was recorded after it. Firings older than the window plus the
deduplication horizon are trimmed, and the key expires after as long.

The check for a whole batch is one pipelined round trip (one Lua call per
hit of a rule with a window; none when no such rule hit), and runs in event
order so that two hits of one batch see each other.

A Redis that refuses the check raises
:class:`~rules.errors.SuppressionUnavailable`, which stops the run as a
failing state store does: hits are never let through unchecked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import redis

from detectors.keys import key
from detectors.lua_script import LuaScript, ScriptPipeline
from riskwatch.contracts import RuleHit, Transaction
from rules.engine import Evaluation
from rules.errors import RuleError, SuppressionUnavailable

_CHECK = """
local ts = tonumber(ARGV[1])
local id = ARGV[2]
local window = tonumber(ARGV[3])
local horizon = tonumber(ARGV[4])
if redis.call('ZSCORE', KEYS[1], id) then return 1 end
local prior = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (ts - window), ts, 'WITHSCORES')
for i = 1, #prior, 2 do
  if tonumber(prior[i + 1]) < ts or prior[i] < id then return 0 end
end
redis.call('ZADD', KEYS[1], ts, id)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (ts - window - horizon))
redis.call('PEXPIRE', KEYS[1], window + horizon)
return 1
"""

#: The transaction field that identifies each kind of entity a rule watches.
ENTITY_FIELDS = {
    "customer": "customer_id",
    "card": "card_id",
    "merchant": "merchant_id",
    "terminal": "terminal_id",
    "device": "device_id",
    "counterparty": "counterparty_account",
}


def suppression_key(namespace: str, rule_id: str, entity: str, txn: Transaction) -> str | None:
    """The key of a rule's firings for the entity of a transaction; None if it has none.

    A customer's keys share the customer's hash tag with its window state.
    """
    value = getattr(txn, ENTITY_FIELDS[entity])
    if value is None:
        return None
    tag = value if entity == "customer" else f"{entity}={value}"
    return key(namespace, tag, "sup", rule_id)


class RuleSuppressor:
    """Moves hits inside their rule's suppression window out of a batch's alerts."""

    def __init__(self, client: redis.Redis, namespace: str, horizon_seconds: int) -> None:
        self._client = client
        self._namespace = namespace
        self._horizon_ms = horizon_seconds * 1000
        self._script = LuaScript(_CHECK)

    def apply(
        self, txns: Sequence[Transaction], evaluations: Sequence[Evaluation]
    ) -> list[Evaluation]:
        """The evaluations with suppressed hits moved from ``hits`` to ``suppressed``."""
        checks: list[tuple[int, RuleHit]] = []
        pipe = ScriptPipeline(self._client, transaction=False)
        for i, (txn, evaluation) in enumerate(zip(txns, evaluations, strict=True)):
            for hit in evaluation.hits:
                if not hit.suppress_seconds:
                    continue
                entity = _entity_of(evaluation, hit)
                name = suppression_key(self._namespace, hit.rule_id, entity, txn)
                if name is None:
                    continue
                args = (txn.ts_ms, txn.txn_id, hit.suppress_seconds * 1000, self._horizon_ms)
                pipe.call(self._script, (name,), args)
                checks.append((i, hit))
        if not checks:
            return list(evaluations)
        try:
            replies = pipe.execute()
        except redis.RedisError as exc:
            msg = f"suppression check of {len(checks)} rule hits failed: {exc}"
            raise SuppressionUnavailable(msg) from exc
        held: dict[int, list[RuleHit]] = {}
        for (i, hit), fires in zip(checks, replies, strict=True):
            if not int(fires):
                held.setdefault(i, []).append(hit)
        out = list(evaluations)
        for i, hits in held.items():
            kept = tuple(h for h in out[i].hits if h not in hits)
            out[i] = dataclasses.replace(out[i], hits=kept, suppressed=tuple(hits))
        return out


def _entity_of(evaluation: Evaluation, hit: RuleHit) -> str:
    for rule in evaluation.fired:
        if rule.id == hit.rule_id:
            return rule.entity
    raise RuleError(f"hit of rule {hit.rule_id!r} has no fired rule")
