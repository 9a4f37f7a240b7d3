"""Kafka in and out, failing loudly rather than losing a record.

Bytewax 0.21's own Kafka sink ignores delivery failures (it flushes without
looking at what was not delivered) and its source, when told not to raise,
turns a consumer error into an item whose offset (-1001) would become the
resume position. So the monitor reads with errors raised, and writes through
:class:`CheckedKafkaSink`, which waits for every message of a batch to be
acknowledged (with :class:`riskwatch.kafka.CheckedProducer`, which the
simulator's Kafka sink uses too) and raises :class:`KafkaDeliveryFailed`
otherwise: the run stops, and Bytewax recovery replays the batch, instead of
a dead letter or an alert vanishing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from riskwatch.kafka import CheckedProducer, KafkaDeliveryFailed

__all__ = ["CheckedKafkaSink", "KafkaDeliveryFailed"]

X = TypeVar("X")
#: What a sink item becomes on the wire: (key, value).
Encoder = Callable[[X], tuple[bytes | None, bytes]]


class _CheckedPartition(StatelessSinkPartition[X], Generic[X]):
    def __init__(
        self,
        config: dict[str, str],
        topic: str,
        encode: Encoder[X],
        on_delivered: Callable[[list[X]], None] | None,
        flush_timeout: float,
    ) -> None:
        self._producer = CheckedProducer(config, flush_timeout=flush_timeout)
        self._topic = topic
        self._encode = encode
        self._on_delivered = on_delivered

    def write_batch(self, items: list[X]) -> None:
        try:
            for item in items:
                key, value = self._encode(item)
                self._producer.produce(self._topic, key, value)
                self._producer.poll()
            self._producer.flush()
        except KafkaDeliveryFailed as exc:
            msg = (
                f"a batch of {len(items)} messages to {self._topic!r} was not all delivered: {exc}"
            )
            raise KafkaDeliveryFailed(msg) from exc
        if self._on_delivered is not None:
            self._on_delivered(items)

    def close(self) -> None:
        self._producer.flush()


class CheckedKafkaSink(DynamicSink[X], Generic[X]):
    """Produce each item to a topic; raise unless all of a batch is acknowledged.

    ``on_delivered`` is called with a batch once Kafka has acknowledged all
    of it, so counts made there are counts of what is really on the topic.
    """

    def __init__(
        self,
        brokers: str,
        topic: str,
        encode: Encoder[X],
        config: dict[str, str] | None = None,
        on_delivered: Callable[[list[X]], None] | None = None,
        flush_timeout: float = 30.0,
    ) -> None:
        self._config = {"bootstrap.servers": brokers, "acks": "all", **(config or {})}
        self._topic = topic
        self._encode = encode
        self._on_delivered = on_delivered
        self._flush_timeout = flush_timeout

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _CheckedPartition[X]:
        return _CheckedPartition(
            dict(self._config), self._topic, self._encode, self._on_delivered, self._flush_timeout
        )
