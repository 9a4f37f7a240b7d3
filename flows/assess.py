"""The assessment step: state, features, rules, model, fused score, alert.

Transactions are keyed by shard (a hash of the customer id), so that every
transaction of a customer is assessed on the same worker, in order, and a
shard's batch reads the customers its worker does not hold with one MGET
and records customer and entity state in pipelined script calls whose
replies come as the features are built (detectors/state.py), and makes one
round trip for the label join and fraud counts, which runs on an I/O thread
beside them. Labels
are routed to their customer's shard too. The models are the worker
process's, shared by its shards and snapshotted to Redis
(detectors/worker_models.py); the step's Bytewax state is only the shard's
event-time watermark and one batch of records awaiting their write, which
keeps Bytewax snapshots small.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from concurrent.futures import wait
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bytewax.operators import StatefulBatchLogic

from alerts.metrics import PipelineMetrics
from detectors.anomaly import AnomalyScore
from detectors.explain import customer_normal
from detectors.features import build_features
from detectors.fusion import fuse
from detectors.learning import LearningContext, ModelVerdict, ShardLearning, ShardLearningState
from detectors.state import CustomerStateStore, StateUpdate
from detectors.worker_models import WorkerModels
from riskwatch.contracts import Alert, Label, ModelScore, Transaction, severity_for
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
    fraud_probability: float = 0.0
    """The supervised classifier's probability that the transaction is fraud."""
    risk_exact: float = 0.0
    """The fused score unrounded, for ranking (``risk`` is rounded to a tenth)."""


@dataclass(frozen=True)
class AssessContext:
    """What every shard's logic shares: the stores, the rules and the knobs."""

    state: CustomerStateStore
    rules: RulesRuntime
    metrics: PipelineMetrics
    timezone: ZoneInfo
    alert_threshold: float
    anomaly_weight: float
    fraud_weight: float
    learning: LearningContext
    clock: Callable[[], datetime]
    shards: int


class ShardAssessor(StatefulBatchLogic[Transaction | Label, Assessment, ShardLearningState]):
    """Assess a shard's batch: its round trips, then each event in order."""

    def __init__(self, context: AssessContext, resume: ShardLearningState | None) -> None:
        self._ctx = context
        self._learning = ShardLearning(context.learning, resume)

    def on_batch(self, values: list[Transaction | Label]) -> tuple[list[Assessment], bool]:
        started = time.perf_counter()
        ctx = self._ctx
        shard = shard_of(values[0].customer_id, ctx.shards)
        txns = [v for v in values if isinstance(v, Transaction)]
        labels = [v for v in values if isinstance(v, Label)]
        # The label join runs on an I/O thread while customer state is read,
        # folded and written here (disjoint keys: the order does not matter).
        pending = self._learning.begin(shard, txns, labels)
        # Features are built as the updates come, while Redis records the
        # batch's later parts (CustomerStateStore.updates).
        updates: list[StateUpdate] = []
        batch_features: list[dict[str, Any]] = []
        try:
            with closing(ctx.state.updates(txns)) as coming:
                for t, u in zip(txns, coming, strict=True):
                    updates.append(u)
                    batch_features.append(build_features(t, u, ctx.timezone))
        except BaseException:
            wait([pending])
            raise
        for features, counts in zip(batch_features, self._learning.finish(pending), strict=True):
            _with(features, counts)
        detected_at = ctx.clock()
        out: list[Assessment] = []
        # All of the batch's rules at once: suppression windows take one round trip.
        evaluations = ctx.rules.evaluate_batch(txns, batch_features)
        keeper = ctx.learning.keeper
        with keeper.lock:
            models = keeper.models()
            for txn, update, features, evaluation in zip(
                txns, updates, batch_features, evaluations, strict=True
            ):
                verdict = self._learning.score(models, txn, features, update.fresh)
                anomaly = verdict.anomaly
                probability = verdict.fraud.probability
                scores = [h.score for h in evaluation.hits]
                exact = fuse(
                    scores,
                    anomaly.excess,
                    ctx.anomaly_weight,
                    verdict.fraud.evidence,
                    ctx.fraud_weight,
                )
                # round() costs most of a microsecond even on the 0 it returns
                # as is, and half the transactions fuse to 0.
                risk = round(exact, 1) if exact else exact
                alert = None
                if risk >= ctx.alert_threshold:
                    alert = _alert(txn, features, evaluation, models, verdict, risk, detected_at)
                out.append(
                    Assessment(
                        txn,
                        update.fresh,
                        features,
                        evaluation,
                        anomaly,
                        risk,
                        alert,
                        probability,
                        exact,
                    )
                )
            threshold = models.anomaly.threshold
            self._learning.publish(models)
        # One metric update per distinct outcome in the batch, not one per rule per event.
        for (rule, mode, status), count in count_outcomes(evaluations).items():
            ctx.metrics.rule_outcomes.labels(rule=rule, mode=mode, outcome=status).inc(count)
        duplicates = sum(1 for u in updates if not u.fresh and not u.stale)
        late = sum(1 for u in updates if u.late and (u.fresh or u.stale))
        if late:
            ctx.metrics.late_events.inc(late)
        ctx.metrics.records_processed.inc(len(txns))
        if labels:
            ctx.metrics.labels_received.inc(len(labels))
        if duplicates:
            ctx.metrics.duplicates.inc(duplicates)
        if threshold is not None:
            ctx.metrics.anomaly_threshold.labels(shard=shard).set(threshold)
        ctx.metrics.batch_seconds.observe(time.perf_counter() - started)
        return out, StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[list[Assessment], bool]:
        # The last batch's scored records would otherwise wait for a batch
        # that never comes.
        self._learning.flush()
        return [], StatefulBatchLogic.RETAIN

    def snapshot(self) -> ShardLearningState:
        # An int: immutable, as Bytewax requires of a snapshot.
        return self._learning.snapshot()


def _with(features: dict[str, Any], counts: dict[str, float]) -> dict[str, Any]:
    """The features with the label-driven counts added in place (no copy of the dict)."""
    features.update(counts)
    return features


def _alert(
    txn: Transaction,
    features: dict[str, Any],
    evaluation: Evaluation,
    models: WorkerModels,
    verdict: ModelVerdict,
    risk: float,
    detected_at: datetime,
) -> Alert:
    anomaly = ModelScore(
        model=models.anomaly.name,
        version=models.anomaly.version,
        score=round(verdict.anomaly.score, 4),
        top_features=verdict.anomaly.top_features(),
    )
    classifier = ModelScore(
        model=models.classifier.name,
        version=models.classifier.version,
        score=round(verdict.fraud.probability, 4),
        top_features=verdict.fraud.top_features(),
    )
    explained = {k: v for k, v in features.items() if v is not None}
    explained["customer_normal"] = customer_normal(features)
    return Alert(
        # One alert per customer's transaction: replays map to the same id.
        alert_id=f"AL-{txn.customer_id}-{txn.txn_id}",
        txn=txn,
        score=risk,
        severity=severity_for(risk),
        rules=evaluation.hits,
        models=(classifier, anomaly),
        features=explained,
        rule_pack_version=evaluation.pack_version,
        model_version=verdict.version,
        detected_at=detected_at,
    )
