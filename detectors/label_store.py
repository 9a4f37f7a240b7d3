"""Labels, the features transactions were scored with, and entity fraud counts, in Redis.

The loop from labels back to the models, in event time:

- Every scored transaction leaves a record in its shard's ``scored`` hash:
  its event time, terminal, merchant and the classifier inputs it was scored
  with, indexed by event time in the shard's ``due`` set.
- A label (routed to its customer's shard) is *held* in the shard's ``held``
  set until the shard's event-time watermark passes the label's ts; only then
  is it joined to the record and handed to the model. So a label with ts T
  can influence only transactions with ts >= T, whatever order the two
  streams were read in.
- A joined fraud label adds its ts to the fraud sets of the transaction's
  terminal and merchant; transactions count the labels that had arrived by
  their own event time (:data:`FRAUD_FEATURES`).
- A transaction with no label by ``ts + horizon`` (watermark time) becomes a
  *legitimate* example: the Handbook's label stream, like a bank's
  chargebacks, carries only frauds. This is the implicit-legitimate rule.
- ``legit`` labels (analyst dispositions) teach the model at once;
  ``suspicious`` ones only take the transaction out of the implicit rule.

The ML keys share one hash tag, ``{ml}``, so that a label's join and its
terminal and merchant counts are one atomic Lua script in one Redis Cluster
slot. Label traffic is small; the scored records hold at most ``horizon``
of event time per shard.

Per batch this is one pipeline: the previous batch's records, the new
labels, the release script and the fraud counts (:meth:`LabelStore.exchange`).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, NamedTuple

import orjson
import redis

from detectors.lua_script import LuaScript, ScriptPipeline
from detectors.state import StateUnavailable
from riskwatch.contracts import Label, Transaction, ts_to_ms

#: Label-driven entity features. ``E_fraud_W``: fraud labels that arrived
#: within W before the transaction. ``E_risk_W``: those frauds over the
#: entity's transactions whose outcome became known in the same W (labelled,
#: or unlabelled past the horizon): the Handbook's delayed terminal risk.
FRAUD_FEATURES = tuple(
    f"{entity}_{stem}_{w}"
    for entity in ("terminal", "merchant")
    for stem in ("fraud", "risk")
    for w in ("1d", "7d", "30d")
)
_WINDOWS = ("1d", "7d", "30d")
_THIRTY_DAYS_MS = 30 * 86_400_000


def _script(name: str) -> str:
    return (importlib.resources.files("detectors") / name).read_text()


class ScoredRecord(NamedTuple):
    """What a transaction was scored with, kept for the label join.

    A named tuple, not a frozen dataclass: one is built per transaction, at
    under half the cost.
    """

    customer_id: str
    txn_id: str
    ts_ms: int
    terminal_id: str | None
    merchant_id: str | None
    inputs: dict[str, float]

    @property
    def member(self) -> str:
        return f"{self.customer_id}|{self.txn_id}"

    def encode(self) -> bytes:
        """``ts_ms|terminal|merchant|inputs-json``: the script reads the head without JSON."""
        head = f"{self.ts_ms}|{self.terminal_id or ''}|{self.merchant_id or ''}|".encode()
        return head + orjson.dumps(self.inputs)


class Example(NamedTuple):
    """A labelled example for the classifier: the stored record of what it was scored with.

    Held as Redis returned it and decoded only when asked: there is one per
    transaction, and of the matured legitimate ones the classifier keeps one
    in ``1 / legit_sample_rate``, ten as configured
    (:meth:`~detectors.supervised.OnlineFraudClassifier.learn_example`).
    A named tuple, not a frozen dataclass, for its cost, as :class:`ScoredRecord`.
    """

    raw_member: bytes
    record: bytes
    is_fraud: bool

    @property
    def member(self) -> str:
        """``<customer>|<txn_id>``."""
        return self.raw_member.decode()

    def inputs(self) -> dict[str, float]:
        """The classifier inputs the transaction was scored with."""
        return decode_record(self.record)


@dataclass(frozen=True, slots=True)
class Exchange:
    """What one batch's round trip brought back."""

    fraud_counts: list[dict[str, float]]
    """Per transaction of the batch, in order: :data:`FRAUD_FEATURES`."""
    examples: list[Example]
    """Released labels joined to their records, then matured implicit legitimates."""
    labels_released: int
    labels_unmatched: int
    """Released labels with no record: unknown transaction, or already joined (a duplicate)."""


def decode_record(raw: bytes) -> dict[str, float]:
    inputs: dict[str, float] = orjson.loads(raw.split(b"|", 3)[3])
    return inputs


class LabelStore:
    """One shard-batch's label join and fraud counts, in one pipeline."""

    def __init__(self, client: redis.Redis, namespace: str, horizon_seconds: int) -> None:
        self._client = client
        self._namespace = namespace
        self._horizon_ms = horizon_seconds * 1000
        self._fraud_prefix = f"{namespace}:{{ml}}:fraud:"
        self._join = LuaScript(_script("label_join.lua"))
        self._counts = LuaScript(_script("fraud_counts.lua"))

    def _keys(self, shard: str) -> list[str]:
        base = f"{self._namespace}:{{ml}}:{shard}"
        return [f"{base}:held", f"{base}:scored", f"{base}:due"]

    def write_records(self, shard: str, records: Sequence[ScoredRecord]) -> None:
        """Write scored records on their own (at a snapshot or the end of input)."""
        if not records:
            return
        _, scored, due = self._keys(shard)
        pipe = self._client.pipeline(transaction=False)
        _queue_records(pipe, scored, due, records)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            msg = f"writing {len(records)} scored records of shard {shard} failed: {exc}"
            raise StateUnavailable(msg) from exc

    def exchange(
        self,
        shard: str,
        records: Sequence[ScoredRecord],
        labels: Sequence[Label],
        release_upto_ms: int,
        txns: Sequence[Transaction],
        ts_ms: Sequence[int] | None = None,
    ) -> Exchange:
        """Write records and labels, release what the watermark has passed, count frauds.

        ``release_upto_ms`` is the shard's watermark: labels with ts up to it
        are joined, and transactions up to it minus the horizon mature.
        ``ts_ms`` are the transactions' event times when the caller has them.
        """
        held, scored, due = self._keys(shard)
        batch = ScriptPipeline(self._client, transaction=False)
        pipe = batch.commands
        if records:
            _queue_records(pipe, scored, due, records)
        if labels:
            # NX: a duplicated label keeps its first ts.
            entries = {
                f"{lb.label}\n{lb.customer_id}|{lb.txn_id}": ts_to_ms(lb.ts) for lb in labels
            }
            pipe.zadd(held, entries, nx=True)
        batch.call(
            self._join,
            [held, scored, due],
            [
                release_upto_ms,
                release_upto_ms - self._horizon_ms,
                self._fraud_prefix,
                release_upto_ms - _THIRTY_DAYS_MS - self._horizon_ms,
                self._horizon_ms,
            ],
        )
        if txns:
            args: list[str | int] = [self._fraud_prefix]
            times = ts_ms if ts_ms is not None else [t.ts_ms for t in txns]
            for txn, ts in zip(txns, times, strict=True):
                args.extend((ts, txn.terminal_id or "", txn.merchant_id or ""))
            batch.call(self._counts, [held], args)
        try:
            replies = batch.execute()
        except redis.RedisError as exc:
            msg = f"label join of shard {shard} ({len(txns)} transactions) failed: {exc}"
            raise StateUnavailable(msg) from exc
        counts = replies[-1] if txns else []
        joined_labels, legit = replies[-2] if txns else replies[-1]
        return self._decode(joined_labels, legit, counts, len(txns))

    def _decode(self, joined: list[Any], legit: list[Any], counts: list[int], n: int) -> Exchange:
        examples: list[Example] = []
        released = unmatched = 0
        for i in range(0, len(joined), 3):
            verdict, member, record = joined[i].decode(), joined[i + 1], joined[i + 2]
            released += 1
            if not record:
                unmatched += 1
            elif verdict in ("fraud", "legit"):
                examples.append(Example(member, record, verdict == "fraud"))
        examples.extend(map(Example, legit[::2], legit[1::2], repeat(False)))
        fraud_counts = [_entity_features(counts[12 * i : 12 * i + 12]) for i in range(n)]
        return Exchange(fraud_counts, examples, released, unmatched)


def _queue_records(
    pipe: redis.client.Pipeline, scored: str, due: str, records: Sequence[ScoredRecord]
) -> None:
    """Queue the records' writes: each in the ``scored`` hash, indexed in ``due`` by time."""
    members = [r.member for r in records]
    pipe.hset(scored, mapping=dict(zip(members, map(ScoredRecord.encode, records), strict=True)))
    pipe.zadd(due, dict(zip(members, [r.ts_ms for r in records], strict=True)))


#: Per (entity, window), in the order of fraud_counts.lua's reply: the fraud
#: count's position, the known count's, and the two feature names.
_COUNT_LAYOUT = tuple(
    (6 * e + i, 6 * e + 3 + i, f"{entity}_fraud_{w}", f"{entity}_risk_{w}")
    for e, entity in enumerate(("terminal", "merchant"))
    for i, w in enumerate(_WINDOWS)
)


def _entity_features(counts: Sequence[int]) -> dict[str, float]:
    """Twelve counts from fraud_counts.lua as the named fraud and risk features."""
    out: dict[str, float] = {}
    for fraud_at, known_at, fraud_name, risk_name in _COUNT_LAYOUT:
        frauds, known = float(counts[fraud_at]), float(counts[known_at])
        out[fraud_name] = frauds
        out[risk_name] = min(frauds / known, 1.0) if known else 0.0
    return out
