"""Send analysts' dispositions to the labels stream, from the label outbox.

A disposition writes its labels into ``label_outbox`` in the disposition's
own transaction (:mod:`alerts.actions`); :meth:`LabelOutbox.flush` sends the
waiting ones to the Kafka labels topic when Kafka is configured, else appends
them to a JSONL file (one Label JSON per line, the same form the simulator's
``labels.jsonl`` has), and marks them sent only once Kafka acknowledged them
or the file was flushed to disk. While Kafka is down the labels wait, with
the attempt count and the last error, and go out on a later flush.

Delivery is at least once: a crash between sending and marking sent sends
those labels again. A label is identified by its ``txn_id`` and ``source``,
so consumers keep the newest.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from alerts.errors import LabelDeliveryFailed
from alerts.schema import label_outbox
from alerts.store import CaseStore
from riskwatch.kafka import CheckedProducer

logger = logging.getLogger(__name__)

#: Delivery gives up after this long per flush, so an API request is never held for long.
KAFKA_TIMEOUT_MS = 5000


@dataclass(frozen=True, slots=True)
class FlushResult:
    """How many labels went out, how many still wait, and why if some could not go."""

    sent: int
    pending: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LabelTarget:
    """Where labels go: a Kafka topic when ``brokers`` is set, else ``path``."""

    path: Path
    brokers: str | None = None
    topic: str = "riskwatch.labels"
    producer_config: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        return f"Kafka topic {self.topic}" if self.brokers else str(self.path)


class LabelOutbox:
    """Flushes one store's label outbox to one target."""

    def __init__(self, store: CaseStore, target: LabelTarget, *, batch: int = 500) -> None:
        self._store = store
        self._target = target
        self._batch = batch

    @property
    def target(self) -> LabelTarget:
        return self._target

    def pending(self) -> int:
        with self._store.reading("counting waiting labels") as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(label_outbox)
                    .where(label_outbox.c.sent_at.is_(None))
                ).scalar_one()
            )

    def flush(self) -> FlushResult:
        """Send every waiting label; never raises for a delivery failure, reports it."""
        sent = 0
        while True:
            with self._store.reading("reading waiting labels") as conn:
                rows = conn.execute(
                    sa.select(label_outbox.c.outbox_id, label_outbox.c.label)
                    .where(label_outbox.c.sent_at.is_(None))
                    .order_by(label_outbox.c.outbox_id)
                    .limit(self._batch)
                ).all()
            if not rows:
                return FlushResult(sent, 0)
            ids = [row.outbox_id for row in rows]
            try:
                self._send([row.label for row in rows])
            except LabelDeliveryFailed as exc:
                self._mark_failed(ids, str(exc))
                logger.warning("labels wait in the outbox: %s", exc)
                return FlushResult(sent, self.pending(), str(exc))
            self._mark_sent(ids)
            sent += len(ids)

    def _send(self, labels: list[dict[str, Any]]) -> None:
        if self._target.brokers:
            self._send_to_kafka(labels)
        else:
            self._append_to_file(labels)

    def _send_to_kafka(self, labels: list[dict[str, Any]]) -> None:
        config = {
            **dict(self._target.producer_config),
            "bootstrap.servers": self._target.brokers,
            "message.timeout.ms": str(KAFKA_TIMEOUT_MS),
            "enable.idempotence": "true",
        }
        producer = CheckedProducer(
            config, flush_timeout=KAFKA_TIMEOUT_MS / 1000 + 2, error=LabelDeliveryFailed
        )
        for label in labels:
            producer.produce(
                self._target.topic, label["customer_id"].encode("utf-8"), orjson.dumps(label)
            )
        producer.flush()

    def _append_to_file(self, labels: list[dict[str, Any]]) -> None:
        path = self._target.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as out:
                out.write(b"".join(orjson.dumps(label) + b"\n" for label in labels))
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            msg = f"appending labels to {path} failed: {exc}"
            raise LabelDeliveryFailed(msg) from exc

    def _mark_sent(self, ids: list[int]) -> None:
        now = self._store.clock()
        with self._store.writing("marking labels sent") as conn:
            conn.execute(
                sa.update(label_outbox)
                .where(label_outbox.c.outbox_id.in_(ids))
                .values(sent_at=now, attempts=label_outbox.c.attempts + 1, last_error=None)
            )

    def _mark_failed(self, ids: list[int], error: str) -> None:
        with self._store.writing("recording a failed label delivery") as conn:
            conn.execute(
                sa.update(label_outbox)
                .where(label_outbox.c.outbox_id.in_(ids))
                .values(attempts=label_outbox.c.attempts + 1, last_error=error[:2000])
            )
