"""The models of one worker process, shared by all its shards, snapshotted to Redis.

Why one per worker process, not one per customer or per shard: a fraud
pattern (a compromised terminal, an amount typical of fraud) is learned
from every customer's labels at once, and a process holds one copy in
memory however many shards it serves. The shards of a process call it
under one lock (Bytewax runs a process's workers as threads).

The models are pickled to one Redis key every ``snapshot_interval`` seconds
(wall time) and reloaded on start, so Bytewax's own snapshots carry only
each shard's watermark. With several processes, each writes its own copy
to the same key and the last writer wins: every copy learned from a share of
the labels, and any of them is a fair starting point for a restarted process.

A restart re-reads input from the last Bytewax epoch while the models come
back from their last Redis snapshot, which can be a little older or newer:
up to one snapshot interval of events may be learned twice or not at all.
Online models tolerate that; it is stated here rather than hidden.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from detectors.anomaly import ProtectedAnomalyDetector
from detectors.drift import WATCHED_INPUTS, DriftWatch
from detectors.supervised import OnlineFraudClassifier

logger = logging.getLogger(__name__)


class WorkerModels:
    """The anomaly detector, the classifier and the drift watch of one process."""

    def __init__(
        self,
        anomaly: ProtectedAnomalyDetector,
        classifier: OnlineFraudClassifier,
        drift: DriftWatch,
    ) -> None:
        self.anomaly = anomaly
        self.classifier = classifier
        self.drift = drift
        self.generation = 0
        """How many snapshots this lineage of models has written."""

    @property
    def version(self) -> str:
        """Names the models' configuration and the snapshot they descend from."""
        return f"{self.classifier.version}+{self.anomaly.version}@g{self.generation}"

    def watch(self, inputs: dict[str, float], fraud: float, anomaly: float) -> list[str]:
        """Feed the drift watch one event's watched inputs and scores, if it is sampled."""
        if not self.drift.due():
            return []
        values = {k: inputs.get(k, 0.0) for k in WATCHED_INPUTS}
        values["fraud_probability"] = fraud
        values["anomaly_score"] = anomaly
        return self.drift.update(values)


class ModelKeeper:
    """Holds a process's :class:`WorkerModels`: loads them once, saves them regularly."""

    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        new_models: Callable[[], WorkerModels],
        snapshot_interval_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._key = f"{namespace}:{{ml}}:models"
        self._new = new_models
        self._interval = snapshot_interval_seconds
        self._monotonic = monotonic
        self._models: WorkerModels | None = None
        self._saved_at = 0.0
        self._changed = False
        self.lock = threading.Lock()

    def models(self) -> WorkerModels:
        """The process's models: the last snapshot in Redis, else new ones. Call under lock."""
        if self._models is None:
            self._models = self._load()
            self._saved_at = self._monotonic()
        return self._models

    def _load(self) -> WorkerModels:
        raw: Any = self._client.get(self._key)
        if raw is None:
            return self._new()
        try:
            models = pickle.loads(raw)
        except (pickle.UnpicklingError, AttributeError, ImportError, EOFError) as exc:
            # A snapshot from an incompatible version: start afresh, loudly.
            logger.warning("model snapshot %s unreadable (%s); starting new models", self._key, exc)
            return self._new()
        if not isinstance(models, WorkerModels):
            logger.warning(
                "model snapshot %s holds %s; starting new models", self._key, type(models)
            )
            return self._new()
        return models

    def maybe_save(self) -> bool:
        """Snapshot the models if the interval has passed. Call under lock."""
        if self._models is None or self._monotonic() - self._saved_at < self._interval:
            return False
        self.save()
        return True

    def save(self) -> None:
        """Pickle the models to Redis now. Call under lock."""
        if self._models is None:
            return
        self._models.generation += 1
        self._client.set(self._key, pickle.dumps(self._models))
        self._saved_at = self._monotonic()
        self._changed = False

    def mark_changed(self) -> None:
        """The models learned something since the last save. Call under lock."""
        self._changed = True

    def save_if_changed(self) -> bool:
        """Save at a Bytewax snapshot: the first shard's call saves, the rest find nothing new."""
        if not self._changed:
            return False
        self.save()
        return True
