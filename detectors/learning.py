"""One shard's side of the models: label join, scoring, learning, in event time.

:class:`ShardLearning` is what the assess step calls for the models, per
batch of a shard:

1. :meth:`ShardLearning.begin` / :meth:`ShardLearning.finish`: one Redis
   round trip (see :mod:`detectors.label_store`), on an I/O thread while
   the caller reads and writes customer state, that writes the previous
   batch's scored records and the batch's labels, releases the labels and
   matured transactions the shard's watermark has passed (minus the release
   lateness), and counts each transaction's terminal and merchant frauds.
   The released examples are learned at once, before this batch is scored,
   and they are all older than it: nothing is learned from a transaction's
   future.
2. :meth:`ShardLearning.score` per transaction: the anomaly detector scores,
   then learns (protected from its own anomalies, fresh events only); the
   classifier scores; drift is watched.

Its Bytewax snapshot is the watermark alone: at a snapshot the records not
yet written are written, and the models go to Redis
(:mod:`detectors.worker_models`).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from alerts.metrics import PipelineMetrics
from detectors.anomaly import AnomalyScore
from detectors.label_store import Exchange, LabelStore, ScoredRecord
from detectors.supervised import FraudScore, model_inputs
from detectors.worker_models import ModelKeeper, WorkerModels
from riskwatch.contracts import Label, Transaction


class ModelVerdict(NamedTuple):
    """What the models said about one transaction.

    A named tuple, not a frozen dataclass: one is built per transaction, at
    under half the cost.
    """

    anomaly: AnomalyScore
    fraud: FraudScore
    inputs: dict[str, float]
    version: str


@dataclass(frozen=True)
class LearningContext:
    """What every shard shares: the label store, the worker's models, the knobs."""

    labels: LabelStore
    keeper: ModelKeeper
    metrics: PipelineMetrics
    release_lateness_ms: int
    io: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="label-join")
    )
    """Runs each batch's label round trip beside its customer-state round trip."""


ShardLearningState = int
"""The shard's event-time watermark, epoch ms: all the Bytewax state the models need."""


class ShardLearning:
    """The models' per-shard state: watermark and records awaiting their write."""

    def __init__(self, context: LearningContext, resume: ShardLearningState | None) -> None:
        self._ctx = context
        self._watermark_ms = resume or 0
        self._unwritten: list[ScoredRecord] = []
        self._shard = ""

    def exchange(
        self, shard: str, txns: Sequence[Transaction], labels: Sequence[Label]
    ) -> list[dict[str, float]]:
        """The batch's round trip; learns what it released; returns the fraud counts."""
        return self.finish(self.begin(shard, txns, labels))

    def begin(
        self, shard: str, txns: Sequence[Transaction], labels: Sequence[Label]
    ) -> Future[Exchange]:
        """Start the batch's round trip on the context's I/O thread; :meth:`finish` takes it.

        The caller does the customer-state round trip meanwhile: the two
        touch disjoint keys, so Redis runs the label join while this process
        folds customer state, instead of one waiting for the other.
        """
        ctx = self._ctx
        self._shard = shard
        release_upto = self._watermark_ms - ctx.release_lateness_ms if self._watermark_ms else 0
        ts_ms = [t.ts_ms for t in txns]
        records, self._unwritten = self._unwritten, []
        pending = ctx.io.submit(
            ctx.labels.exchange, shard, records, labels, release_upto, txns, ts_ms
        )
        if ts_ms:
            self._watermark_ms = max(self._watermark_ms, max(ts_ms))
        return pending

    def finish(self, pending: Future[Exchange]) -> list[dict[str, float]]:
        """Wait for the round trip, learn what it released; return the fraud counts."""
        ctx = self._ctx
        result = pending.result()
        if result.labels_released:
            matched = result.labels_released - result.labels_unmatched
            ctx.metrics.labels_released.labels(matched="yes").inc(matched)
            ctx.metrics.labels_released.labels(matched="no").inc(result.labels_unmatched)
        if result.examples:
            frauds = 0
            with ctx.keeper.lock:
                classifier = ctx.keeper.models().classifier
                for example in result.examples:
                    classifier.learn_example(example.is_fraud, example.inputs)
                    frauds += example.is_fraud
                ctx.keeper.mark_changed()
            ctx.metrics.examples_learned.labels(label="fraud").inc(frauds)
            ctx.metrics.examples_learned.labels(label="legit").inc(len(result.examples) - frauds)
        return result.fraud_counts

    def score(
        self, models: WorkerModels, txn: Transaction, features: dict[str, Any], fresh: bool
    ) -> ModelVerdict:
        """Score one transaction with the worker's models (call under the keeper's lock)."""
        anomaly = models.anomaly.score_one(features)
        # Duplicates are learned too: the models are saved to Redis with each
        # Bytewax snapshot, so after a restart they are back at that epoch while
        # Redis state is not, and the replayed events (duplicates to Redis) must
        # be learned again for the models to match a run that never stopped.
        models.anomaly.learn_one(features)
        inputs = model_inputs(features)
        if fresh:
            # Its scored record was written at its first sighting (and may
            # since have been joined to its label: it must not come back).
            self._unwritten.append(
                ScoredRecord(
                    txn.customer_id, txn.txn_id, txn.ts_ms, txn.terminal_id, txn.merchant_id, inputs
                )
            )
        fraud = models.classifier.score_inputs(inputs)
        drifted = models.watch(inputs, fraud.probability, anomaly.score)
        for signal in drifted:
            self._ctx.metrics.drift_detected.labels(signal=signal).inc()
        return ModelVerdict(anomaly, fraud, inputs, models.version)

    def publish(self, models: WorkerModels) -> None:
        """Export drift levels and snapshot the models if due (call under the lock)."""
        self._ctx.keeper.mark_changed()
        for signal, mean in models.drift.means().items():
            self._ctx.metrics.drift_mean.labels(signal=signal).set(mean)
        if self._ctx.keeper.maybe_save():
            self._ctx.metrics.model_snapshots.inc()

    def flush(self) -> None:
        """Write the records still waiting for the next batch's round trip."""
        self._ctx.labels.write_records(self._shard, self._unwritten)
        self._unwritten = []

    def snapshot(self) -> ShardLearningState:
        """The shard's Bytewax state, once its records and the worker's models are in Redis.

        The models are saved with the first shard's snapshot of an epoch, so
        a restart finds them at the epoch its input resumes from.
        """
        self.flush()
        with self._ctx.keeper.lock:
            if self._ctx.keeper.save_if_changed():
                self._ctx.metrics.model_snapshots.inc()
        return self._watermark_ms
