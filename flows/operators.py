"""Small reusable operators of the monitor flow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import bytewax.operators as op
import orjson
from bytewax.connectors.kafka import KafkaError, KafkaSinkMessage, KafkaSourceMessage
from bytewax.dataflow import Stream, operator

from alerts.metrics import PipelineMetrics
from riskwatch.contracts import Alert, DeadLetter, RawRecord, Transaction
from riskwatch.parsing import (
    InvalidRecord,
    ValidationLimits,
    parse_transaction,
    redact_card_numbers,
    redact_card_numbers_text,
)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


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


@operator
def parse_records(
    step_id: str, up: Stream[RawRecord], limits: ValidationLimits, clock: Clock
) -> ParseOut:
    """Validate each raw record into a Transaction or a dead letter with its reason."""

    def parse_batch(batch: list[RawRecord]) -> list[Transaction | DeadLetter]:
        now = clock()
        out: list[Transaction | DeadLetter] = []
        for raw in batch:
            try:
                out.append(parse_transaction(raw.payload, now, limits))
            except InvalidRecord as exc:
                out.append(dead_letter(raw, exc.reason, str(exc), now))
        return out

    parsed = op.flat_map_batch("parse", up, parse_batch)
    split = op.branch("split", parsed, lambda item: isinstance(item, Transaction))
    return ParseOut(split.trues, split.falses)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RecordsOut:
    """Raw records to parse, and dead letters for what the source could not deliver."""

    oks: Stream[RawRecord]
    errs: Stream[DeadLetter]


@operator
def kafka_records(
    step_id: str,
    messages: Stream[KafkaSourceMessage[bytes | None, bytes | None]],
    failures: Stream[KafkaError[bytes | None, bytes | None]],
    metrics: PipelineMetrics,
    clock: Clock,
) -> RecordsOut:
    """Kafka messages as raw records; consumer errors as dead letters."""

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

    def to_dead(err: KafkaError[bytes | None, bytes | None]) -> DeadLetter:
        topic = err.msg.topic or "kafka"
        metrics.records_read.labels(source=f"kafka:{topic}").inc()
        raw = RawRecord(
            topic,
            str(err.msg.partition),
            err.msg.offset if err.msg.offset is not None else -1,
            err.msg.value or b"",
        )
        return dead_letter(raw, "kafka_error", str(err.err), clock())

    return RecordsOut(op.map("to_raw", messages, to_raw), op.map("errors", failures, to_dead))


def dead_letter_message(letter: DeadLetter) -> KafkaSinkMessage[bytes | None, bytes | None]:
    return KafkaSinkMessage(
        key=f"{letter.source}:{letter.partition}".encode(),
        value=orjson.dumps(letter.to_json_dict()),
    )


def alert_message(alert: Alert) -> KafkaSinkMessage[bytes | None, bytes | None]:
    return KafkaSinkMessage(
        key=alert.customer_id.encode(), value=orjson.dumps(alert.to_json_dict())
    )
