"""A Kafka producer that never loses a message quietly.

confluent-kafka reports a failed delivery only to a callback, and ``flush``
only returns how many messages are still queued; both are easy to ignore.
:class:`CheckedProducer` keeps every failure and raises it, so the monitor's
alert and dead-letter sinks and the simulator's Kafka sink all stop rather
than drop records. Each caller names the exception to raise, so that it
stays in its own package's error tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer


class KafkaDeliveryFailed(Exception):
    """Kafka did not take or did not acknowledge a message."""


class CheckedProducer:
    """Produce messages; raise on the first failure instead of losing it."""

    #: How often to retry a message while the local queue is full, 0.1 s apart.
    QUEUE_FULL_RETRIES = 100

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        flush_timeout: float = 30.0,
        error: type[Exception] = KafkaDeliveryFailed,
    ) -> None:
        self._producer = Producer(dict(config))
        self._where = str(config.get("bootstrap.servers", "kafka"))
        self._flush_timeout = flush_timeout
        self._error = error
        self._failure: Exception | None = None
        self._failures = 0

    def produce(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Queue one message, waiting while the local queue is full."""
        for _ in range(self.QUEUE_FULL_RETRIES):
            try:
                self._producer.produce(topic, value, key, on_delivery=self._delivered)
                return
            except BufferError:
                # The local queue is full: let the broker catch up, then retry.
                self._producer.poll(0.1)
            except KafkaException as exc:
                msg = f"producing to {topic} at {self._where} failed: {exc}"
                raise self._error(msg) from exc
        msg = f"producer queue for {topic} at {self._where} stayed full for 10s"
        raise self._error(msg)

    def poll(self) -> None:
        """Serve delivery reports that have arrived, without waiting."""
        self._producer.poll(0)

    def raise_failure(self) -> None:
        """Raise the first delivery failure reported so far, if any."""
        if self._failure is not None:
            failure, count = self._failure, self._failures
            self._failure = None
            self._failures = 0
            if count > 1:
                failure.add_note(f"{count - 1} more messages failed")
            raise failure

    def flush(self) -> None:
        """Wait until every queued message is acknowledged; raise if any was not."""
        remaining = self._producer.flush(self._flush_timeout)
        self.raise_failure()
        if remaining:
            msg = (
                f"{remaining} messages to {self._where} not acknowledged "
                f"within {self._flush_timeout:.0f}s"
            )
            raise self._error(msg)

    def _delivered(self, err: KafkaError | None, message: Message) -> None:
        if err is None:
            return
        self._failures += 1
        if self._failure is None:
            key = message.key()
            shown = key.decode("utf-8", "replace") if key else None
            self._failure = self._error(
                f"delivery to {message.topic()} failed for key {shown}: {err}"
            )
