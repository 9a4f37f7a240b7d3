"""Small reusable operators of the monitor flow."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.operators import StatefulBatchLogic

from alerts.metrics import PipelineMetrics
from flows.assess import shard_of
from riskwatch.clock import Clock
from riskwatch.contracts import Alert, DeadLetter, Label, RawRecord, Transaction
from riskwatch.label_parsing import parse_label
from riskwatch.parsing import (
    InvalidRecord,
    ValidationLimits,
    parse_transaction,
    redact_card_numbers,
    redact_card_numbers_text,
)

#: A raw record on its way to its customer's shard: what it holds (``"txn"`` or
#: ``"label"``) and the :class:`RawRecord`'s fields, as a plain tuple. Bytewax
#: pickles every item it sends to another process, and a tuple of bytes and
#: strings crosses several times cheaper than a dataclass; parsing happens
#: after the crossing, on the worker that owns the customer.
RoutedRecord = tuple[str, str, str, int, bytes, bytes | None, bool]


def dead_letter(raw: RawRecord, reason: str, error: str, at: datetime) -> DeadLetter:
    """A dead letter that never holds a clear card number."""
    return DeadLetter(
        source=raw.source,
        partition=raw.partition,
        offset=raw.offset,
        payload=redact_card_numbers(raw.payload),
        reason=reason,
        error=redact_card_numbers_text(error),
        at=at,
    )


def route_by_customer(kind: str, shards: int) -> Callable[[RawRecord], tuple[str, RoutedRecord]]:
    """Key raw records by their customer's shard, before they are parsed.

    The customer id is read with the same JSON decoder the parser uses, and
    the parser keeps ids as they are, so a valid record lands on the shard of
    its parsed ``customer_id``. A record with no readable customer id goes to
    the shard of ``""`` to be dead-lettered there with its reason.
    """

    def route(raw: RawRecord) -> tuple[str, RoutedRecord]:
        customer: Any = None
        if not raw.too_long:
            try:
                record = orjson.loads(raw.payload)
            except orjson.JSONDecodeError:
                record = None
            if isinstance(record, dict):
                customer = record.get("customer_id")
        shard = shard_of(customer if isinstance(customer, str) else "", shards)
        fields = (kind, raw.source, raw.partition, raw.offset, raw.payload, raw.key, raw.too_long)
        return shard, fields

    return route


class ParseOnOwner(StatefulBatchLogic[RoutedRecord, Transaction | Label | DeadLetter, None]):
    """Parse a shard's routed records into transactions and labels, or dead letters.

    A keyed step only so that it runs on the worker that owns the shard; it
    keeps no state.
    """

    def __init__(self, limits: ValidationLimits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock

    def on_batch(
        self, values: list[RoutedRecord]
    ) -> tuple[list[Transaction | Label | DeadLetter], bool]:
        now = self._clock()
        limits = self._limits
        out: list[Transaction | Label | DeadLetter] = []
        for kind, *fields in values:
            raw = RawRecord(*fields)
            if raw.too_long:
                error = f"record is longer than the limit; its first {len(raw.payload)} bytes kept"
                out.append(dead_letter(raw, "record_too_long", error, now))
                continue
            try:
                if kind == "txn":
                    out.append(parse_transaction(raw.payload, now, limits))
                else:
                    out.append(parse_label(raw.payload, now, limits))
            except InvalidRecord as exc:
                out.append(dead_letter(raw, exc.reason, str(exc), now))
        return out, StatefulBatchLogic.RETAIN

    def snapshot(self) -> None:
        return None


def kafka_record(
    metrics: PipelineMetrics,
) -> Callable[[KafkaSourceMessage[bytes | None, bytes | None]], RawRecord]:
    """Kafka messages as raw records; a null value (a tombstone) becomes an empty record.

    Each topic's read counter is looked up once: ``labels()`` takes a lock and
    builds its key on every call, a cost paid per message otherwise.
    """
    counters: dict[str, Any] = {}

    def to_raw(msg: KafkaSourceMessage[bytes | None, bytes | None]) -> RawRecord:
        topic = msg.topic or "kafka"
        counter = counters.get(topic)
        if counter is None:
            counter = counters[topic] = metrics.records_read.labels(source=f"kafka:{topic}")
        counter.inc()
        return RawRecord(
            source=topic,
            partition=str(msg.partition),
            offset=msg.offset if msg.offset is not None else -1,
            payload=msg.value or b"",
            key=msg.key,
        )

    return to_raw


def dead_letter_message(letter: DeadLetter) -> tuple[bytes | None, bytes]:
    """Keyed by where the record came from, so one partition's letters stay in order."""
    return f"{letter.source}:{letter.partition}".encode(), orjson.dumps(letter.to_json_dict())


def alert_message(alert: Alert) -> tuple[bytes | None, bytes]:
    """Keyed by customer, like the transactions."""
    return alert.customer_id.encode(), orjson.dumps(alert.to_json_dict())
