"""Kafka in and out, failing loudly rather than losing a record.

Bytewax 0.21's own Kafka sink ignores delivery failures (it flushes without
looking at what was not delivered) and its source, when told not to raise,
turns a consumer error into an item whose offset (-1001) would become the
resume position. So the monitor reads with errors raised, and writes through
:class:`CheckedKafkaSink`, which waits for every message to be acknowledged
and raises :class:`KafkaDeliveryFailed` otherwise: the run stops, and Bytewax
recovery replays the batch, instead of a dead letter or an alert vanishing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import KafkaError, Message, Producer

logger = logging.getLogger(__name__)

X = TypeVar("X")
#: What a sink item becomes on the wire: (key, value).
Encoder = Callable[[X], tuple[bytes | None, bytes]]


class KafkaDeliveryFailed(Exception):
    """Kafka did not acknowledge every message of a batch."""


class _CheckedPartition(StatelessSinkPartition[X], Generic[X]):
    def __init__(
        self,
        config: dict[str, str],
        topic: str,
        encode: Encoder[X],
        on_delivered: Callable[[list[X]], None] | None,
        flush_timeout: float,
    ) -> None:
        self._producer = Producer(config)
        self._topic = topic
        self._encode = encode
        self._on_delivered = on_delivered
        self._flush_timeout = flush_timeout

    def write_batch(self, items: list[X]) -> None:
        failures: list[KafkaError] = []

        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err)

        for item in items:
            key, value = self._encode(item)
            self._producer.produce(self._topic, value=value, key=key, on_delivery=report)
            self._producer.poll(0)
        unacknowledged = self._producer.flush(self._flush_timeout)
        if failures or unacknowledged:
            first = f"; first error: {failures[0]}" if failures else ""
            msg = (
                f"{len(failures)} of {len(items)} messages to {self._topic!r} failed and "
                f"{unacknowledged} were not acknowledged within {self._flush_timeout:.0f}s{first}"
            )
            raise KafkaDeliveryFailed(msg)
        if self._on_delivered is not None:
            self._on_delivered(items)

    def close(self) -> None:
        self._producer.flush(self._flush_timeout)


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
