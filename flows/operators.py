"""Small reusable operators of the monitor flow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import bytewax.operators as op
import orjson
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.dataflow import Stream, operator

from alerts.metrics import PipelineMetrics
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

T = TypeVar("T")


@dataclass(frozen=True)
class ParseOut:
    """Valid transactions, and dead letters for everything else."""

    oks: Stream[Transaction]
    errs: Stream[DeadLetter]


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


def _parse_batches(
    up: Stream[RawRecord],
    parse: Callable[[bytes, datetime], T],
    kind: type[T],
    clock: Clock,
) -> tuple[Stream[T], Stream[DeadLetter]]:
    """Parse each raw record with ``parse`` into a ``kind``, or a dead letter with its reason."""

    def parse_batch(batch: list[RawRecord]) -> list[T | DeadLetter]:
        now = clock()
        out: list[T | DeadLetter] = []
        for raw in batch:
            if raw.too_long:
                error = f"record is longer than the limit; its first {len(raw.payload)} bytes kept"
                out.append(dead_letter(raw, "record_too_long", error, now))
                continue
            try:
                out.append(parse(raw.payload, now))
            except InvalidRecord as exc:
                out.append(dead_letter(raw, exc.reason, str(exc), now))
        return out

    parsed = op.flat_map_batch("parse", up, parse_batch)
    split = op.branch("split", parsed, lambda item: isinstance(item, kind))
    return split.trues, split.falses  # type: ignore[return-value]


@operator
def parse_records(
    step_id: str, up: Stream[RawRecord], limits: ValidationLimits, clock: Clock
) -> ParseOut:
    """Validate each raw record into a Transaction or a dead letter with its reason."""
    oks, errs = _parse_batches(
        up, lambda payload, now: parse_transaction(payload, now, limits), Transaction, clock
    )
    return ParseOut(oks, errs)


@dataclass(frozen=True)
class LabelParseOut:
    """Valid labels, and dead letters for everything else."""

    oks: Stream[Label]
    errs: Stream[DeadLetter]


@operator
def parse_label_records(
    step_id: str, up: Stream[RawRecord], limits: ValidationLimits, clock: Clock
) -> LabelParseOut:
    """Validate each raw record into a Label or a dead letter with its reason."""
    oks, errs = _parse_batches(
        up, lambda payload, now: parse_label(payload, now, limits), Label, clock
    )
    return LabelParseOut(oks, errs)


def kafka_record(
    metrics: PipelineMetrics,
) -> Callable[[KafkaSourceMessage[bytes | None, bytes | None]], RawRecord]:
    """Kafka messages as raw records; a null value (a tombstone) becomes an empty record."""

    def to_raw(msg: KafkaSourceMessage[bytes | None, bytes | None]) -> RawRecord:
        topic = msg.topic or "kafka"
        metrics.records_read.labels(source=f"kafka:{topic}").inc()
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
