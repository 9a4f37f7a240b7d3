"""The assessment step: state, features, rules, model, fused score, alert.

Transactions are keyed by shard (a hash of the customer id), so that every
transaction of a customer is assessed on the same worker, in order, and a
shard's batch makes one Redis round trip. The shard's anomaly model is the
step's only Bytewax state; customers' state lives in Redis, which keeps
Bytewax snapshots small however many customers there are.
"""

from __future__ import annotations

import pickle
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bytewax.operators import StatefulBatchLogic

from alerts.metrics import PipelineMetrics
from detectors.anomaly import AnomalyScore, HalfSpaceTreesDetector
from detectors.features import build_features
from detectors.fusion import fuse
from detectors.state import CustomerStateStore
from riskwatch.contracts import Alert, ModelScore, Transaction, severity_for
from rules.engine import Evaluation, count_outcomes
from rules.runtime import RulesRuntime


def shard_of(customer_id: str, shards: int) -> str:
    """The shard a customer belongs to; stable across processes and restarts.

    >>> shard_of("C000001", 8)
    's1'
    """
    return f"s{zlib.crc32(customer_id.encode()) % shards}"


@dataclass(frozen=True, slots=True)
class Assessment:
    """Everything decided about one transaction."""

    txn: Transaction
    fresh: bool
    features: dict[str, Any]
    evaluation: Evaluation
    anomaly: AnomalyScore
    risk: float
    alert: Alert | None


@dataclass(frozen=True)
class AssessContext:
    """What every shard's logic shares: the stores, the rules and the knobs."""

    state: CustomerStateStore
    rules: RulesRuntime
    metrics: PipelineMetrics
    timezone: ZoneInfo
    alert_threshold: float
    anomaly_weight: float
    new_detector: Callable[[], HalfSpaceTreesDetector]
    clock: Callable[[], datetime]
    shards: int


class ShardAssessor(StatefulBatchLogic[Transaction, Assessment, bytes]):
    """Assess a shard's batch: one state round trip, then each event in order."""

    def __init__(self, context: AssessContext, resume: bytes | None) -> None:
        self._ctx = context
        self._detector: HalfSpaceTreesDetector = (
            pickle.loads(resume) if resume is not None else context.new_detector()
        )

    def on_batch(self, values: list[Transaction]) -> tuple[list[Assessment], bool]:
        started = time.perf_counter()
        ctx = self._ctx
        updates = ctx.state.apply(values)
        detected_at = ctx.clock()
        out: list[Assessment] = []
        batch_features = [
            build_features(t, u, ctx.timezone) for t, u in zip(values, updates, strict=True)
        ]
        # All of the batch's rules at once: suppression windows take one round trip.
        evaluations = ctx.rules.evaluate_batch(values, batch_features)
        for txn, update, features, evaluation in zip(
            values, updates, batch_features, evaluations, strict=True
        ):
            anomaly = self._detector.score_one(features)
            # Duplicates are learned too: after a restart Bytewax rolls the model
            # back to its last snapshot while Redis keeps the state, so the replayed
            # events (duplicates to Redis) must be learned again for the model to
            # match a run that never stopped.
            self._detector.learn_one(features)
            risk = fuse((h.score for h in evaluation.hits), anomaly.excess, ctx.anomaly_weight)
            alert = None
            if risk >= ctx.alert_threshold:
                alert = self._alert(txn, features, evaluation, anomaly, risk, detected_at)
            out.append(Assessment(txn, update.fresh, features, evaluation, anomaly, risk, alert))
        # One metric update per distinct outcome in the batch, not one per rule per event.
        for (rule, mode, status), count in count_outcomes(evaluations).items():
            ctx.metrics.rule_outcomes.labels(rule=rule, mode=mode, outcome=status).inc(count)
        duplicates = sum(1 for u in updates if not u.fresh and not u.stale)
        late = sum(1 for u in updates if u.late and (u.fresh or u.stale))
        if late:
            ctx.metrics.late_events.inc(late)
        ctx.metrics.records_processed.inc(len(values))
        if duplicates:
            ctx.metrics.duplicates.inc(duplicates)
        threshold = self._detector.threshold
        if threshold is not None:
            shard = shard_of(values[0].customer_id, ctx.shards)
            ctx.metrics.anomaly_threshold.labels(shard=shard).set(threshold)
        ctx.metrics.batch_seconds.observe(time.perf_counter() - started)
        return out, StatefulBatchLogic.RETAIN

    def _alert(
        self,
        txn: Transaction,
        features: dict[str, Any],
        evaluation: Evaluation,
        anomaly: AnomalyScore,
        risk: float,
        detected_at: datetime,
    ) -> Alert:
        model = ModelScore(
            model=self._detector.name,
            version=self._detector.version,
            score=round(anomaly.score, 4),
            top_features=anomaly.top_features(),
        )
        return Alert(
            # One alert per customer's transaction: replays map to the same id.
            alert_id=f"AL-{txn.customer_id}-{txn.txn_id}",
            txn=txn,
            score=risk,
            severity=severity_for(risk),
            rules=evaluation.hits,
            models=(model,),
            features={k: v for k, v in features.items() if v is not None},
            rule_pack_version=evaluation.pack_version,
            model_version=self._detector.version,
            detected_at=detected_at,
        )

    def snapshot(self) -> bytes:
        # Pickled bytes are an immutable copy, as Bytewax requires.
        return pickle.dumps(self._detector)
