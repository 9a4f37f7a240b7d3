"""Where simulated events go: JSON lines (files, stdout) or Kafka.

Transactions and labels always travel apart, as they do in production: the
monitor reads the transaction stream, and ground truth reaches the models
through the labels stream only, in the order it becomes known (a label is
released once the transaction stream has passed its ``ts``; see
:mod:`simulator.labels`). Every transaction is
``Transaction.to_json_dict()`` and every label ``Label.to_json_dict()``,
serialised by orjson with the contracts' fixed key order, so equal runs
write equal bytes. Sinks take either :class:`~simulator.events.SimulatedEvent`
or the already serialised :class:`~simulator.wire.WireEvent` of
:func:`~simulator.generator.simulate_wire`, which is much faster.

Kafka messages are keyed by customer id, so one customer's events stay in
order on one partition; transactions go to one topic, or to one topic per
channel (``<topic>.<channel>``). A message the broker does not acknowledge raises
:class:`~simulator.errors.KafkaDeliveryError`, at the latest on ``close()``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, islice
from operator import attrgetter
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, Self, cast

from riskwatch.kafka import CheckedProducer
from simulator.errors import KafkaDeliveryError, SinkError
from simulator.events import SimulatedEvent
from simulator.labels import LabelQueue
from simulator.wire import WireEvent, to_wire

logger = logging.getLogger(__name__)
_TXN = attrgetter("txn")
_LABEL = attrgetter("label")
_TS_MS = attrgetter("ts_ms")


class Sink(Protocol):
    """Somewhere simulated events can be written to."""

    def write(self, event: SimulatedEvent | WireEvent) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SinkReport:
    """How many records a run wrote."""

    transactions: int
    labels: int


class JsonlSink:
    """Transactions as JSON lines on one binary stream, labels on another.

    With no labels stream the labels are dropped, which suits piping the
    transaction stream to another program.
    """

    def __init__(
        self,
        stream: IO[bytes],
        labels: IO[bytes] | None = None,
        *,
        name: str = "jsonl",
        owned: tuple[IO[bytes], ...] = (),
    ) -> None:
        self._stream = stream
        self._labels = labels
        self._name = name
        self._owned = owned
        self._held = LabelQueue()
        self.transactions = 0
        self.labels = 0

    @classmethod
    def to_files(cls, stream_path: str | Path, labels_path: str | Path) -> JsonlSink:
        """Write to two files, replacing them; the sink closes them."""
        try:
            stream = open(stream_path, "wb")  # noqa: SIM115 (the sink owns and closes it)
        except OSError as exc:
            msg = f"cannot open transaction file {stream_path}: {exc}"
            raise SinkError(msg) from exc
        try:
            labels = open(labels_path, "wb")  # noqa: SIM115
        except OSError as exc:
            stream.close()
            msg = f"cannot open labels file {labels_path}: {exc}"
            raise SinkError(msg) from exc
        return cls(stream, labels, name=str(stream_path), owned=(stream, labels))

    @classmethod
    def to_file(cls, stream_path: str | Path) -> JsonlSink:
        """Transactions only, to one file (replacing it); labels are dropped."""
        try:
            stream = open(stream_path, "wb")  # noqa: SIM115 (the sink owns and closes it)
        except OSError as exc:
            msg = f"cannot open transaction file {stream_path}: {exc}"
            raise SinkError(msg) from exc
        return cls(stream, None, name=str(stream_path), owned=(stream,))

    @classmethod
    def to_stdout(cls, labels_path: str | Path | None = None) -> JsonlSink:
        """Transactions to standard output; labels to a file if one is given."""
        if labels_path is None:
            return cls(sys.stdout.buffer, None, name="stdout")
        try:
            labels = open(labels_path, "wb")  # noqa: SIM115
        except OSError as exc:
            msg = f"cannot open labels file {labels_path}: {exc}"
            raise SinkError(msg) from exc
        return cls(sys.stdout.buffer, labels, name="stdout", owned=(labels,))

    def write(self, event: SimulatedEvent | WireEvent) -> None:
        wire = event if isinstance(event, WireEvent) else to_wire(event)
        try:
            self._stream.write(wire.txn + b"\n")
            self.transactions += 1
            if self._labels is not None:
                held = self._held
                if wire.label is not None:
                    held.push(wire.label_ms, wire.label)
                heap = held.heap
                if heap and heap[0][0] <= wire.ts_ms:
                    self._write_labels(held.due(wire.ts_ms))
        except OSError as exc:
            msg = f"writing event {self.transactions + 1} to {self._name} failed: {exc}"
            raise SinkError(msg) from exc

    def write_batch(self, events: Sequence[SimulatedEvent | WireEvent]) -> None:
        """Write ``events`` as :meth:`write` would, one by one, in fewer, larger writes.

        Transactions are gathered and written together; held labels are
        released at the same points of the stream as :meth:`write` releases
        them (the pending transactions go first), so both files get the same
        bytes, and so does one stream used for both.
        """
        if self._labels is not None and self._labels is not self._stream:
            # map() with attrgetters keeps the per-event work in C.
            if set(map(type, events)) == {WireEvent}:
                wires = cast("list[WireEvent]", list(events))
            else:
                wires = [e if isinstance(e, WireEvent) else to_wire(e) for e in events]
            stamps = list(map(_TS_MS, wires))
            if stamps == sorted(stamps):
                self._write_apart(wires)
                return
            events = wires
        lines: list[bytes] = []
        stream, has_labels, held = self._stream, self._labels is not None, self._held
        heap = held.heap
        try:
            for event in events:
                wire = event if isinstance(event, WireEvent) else to_wire(event)
                lines.append(wire.txn)
                if has_labels:
                    if wire.label is not None:
                        held.push(wire.label_ms, wire.label)
                    if heap and heap[0][0] <= wire.ts_ms:
                        stream.write(b"\n".join(lines) + b"\n")
                        self.transactions += len(lines)
                        lines.clear()
                        self._write_labels(held.due(wire.ts_ms))
            if lines:
                stream.write(b"\n".join(lines) + b"\n")
                self.transactions += len(lines)
        except OSError as exc:
            msg = (
                f"writing events {self.transactions + 1}-{self.transactions + len(lines)}"
                f" to {self._name} failed: {exc}"
            )
            raise SinkError(msg) from exc

    def _write_apart(self, wires: list[WireEvent]) -> None:
        """:meth:`write_batch` of events in time order, when labels have a stream of their own.

        Each file then gets the same bytes whenever within the batch a label
        is released (labels leave in label-time order either way, and only
        once the transaction stream has passed them), so the batch's
        transactions are written at once and its due labels after them.
        """
        if not wires:
            return
        try:
            self._stream.write(b"\n".join(map(_TXN, wires)) + b"\n")
            self.transactions += len(wires)
            push = self._held.push
            for wire in compress(wires, map(_LABEL, wires)):
                push(wire.label_ms, wire.label)
            self._write_labels(self._held.due(wires[-1].ts_ms))
        except OSError as exc:
            msg = f"writing {len(wires)} events to {self._name} failed: {exc}"
            raise SinkError(msg) from exc

    def _write_labels(self, labels: list[bytes]) -> None:
        if labels and self._labels is not None:
            self._labels.write(b"".join(label + b"\n" for label in labels))
            self.labels += len(labels)

    def close(self) -> None:
        try:
            self._stream.flush()
            if self._labels is not None:
                self._write_labels(self._held.drain())
                self._labels.flush()
        except OSError as exc:
            msg = f"flushing {self._name} failed: {exc}"
            raise SinkError(msg) from exc
        finally:
            for handle in self._owned:
                handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class KafkaSink:
    """Transactions to one topic and labels to another, keyed by customer id.

    With ``per_channel`` transactions go to ``<topic>.<channel>`` instead,
    one topic per channel as a bank's channel systems would publish them.
    ``producer_config`` is passed to confluent-kafka on top of
    ``bootstrap.servers`` (and overrides the defaults here). Delivery
    reports are served as the sink goes; the first failure is raised as
    :class:`~simulator.errors.KafkaDeliveryError` from the next ``write`` or
    from ``close()``, which also waits for every message to be acknowledged.
    """

    #: Serve delivery callbacks every this many messages.
    POLL_EVERY = 1000

    def __init__(
        self,
        brokers: str,
        topic: str,
        labels_topic: str,
        *,
        producer_config: Mapping[str, Any] | None = None,
        flush_timeout: float = 30.0,
        per_channel: bool = False,
    ) -> None:
        config: dict[str, Any] = {
            "bootstrap.servers": brokers,
            "acks": "all",
            "linger.ms": 20,
            "logger": logger,  # librdkafka's own log lines, through logging not stderr
        }
        config.update(producer_config or {})
        self._topic = topic
        self._per_channel = per_channel
        self._labels_topic = labels_topic
        self._held = LabelQueue()
        self._producer = CheckedProducer(
            config, flush_timeout=flush_timeout, error=KafkaDeliveryError
        )
        self._since_poll = 0
        self.transactions = 0
        self.labels = 0

    def write(self, event: SimulatedEvent | WireEvent) -> None:
        self._producer.raise_failure()
        wire = event if isinstance(event, WireEvent) else to_wire(event)
        topic = (
            f"{self._topic}.{wire.channel}" if self._per_channel and wire.channel else self._topic
        )
        self._producer.produce(topic, wire.key, wire.txn)
        self.transactions += 1
        held = self._held
        if wire.label is not None:
            held.push(wire.label_ms, wire.key + b"\0" + wire.label)
        heap = held.heap
        if heap and heap[0][0] <= wire.ts_ms:
            self._produce_labels(held.due(wire.ts_ms))
        self._since_poll += 1
        if self._since_poll >= self.POLL_EVERY:
            self._producer.poll()
            self._since_poll = 0

    def _produce_labels(self, held: list[bytes]) -> None:
        for item in held:
            key, _, label = item.partition(b"\0")
            self._producer.produce(self._labels_topic, key, label)
            self.labels += 1

    def close(self) -> None:
        """Release held labels, wait for every message to be acknowledged; raise if any was not."""
        self._produce_labels(self._held.drain())
        self._producer.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:  # already failing: still try to deliver, but keep the first error
            try:
                self.close()
            except KafkaDeliveryError:
                logger.exception("kafka sink could not deliver while closing after an error")


#: Events per :meth:`JsonlSink.write_batch` for unpaced runs to files.
FILE_BATCH = 4096


def write_events(
    events: Iterable[SimulatedEvent | WireEvent], sink: Sink, *, batch: int = 1
) -> SinkReport:
    """Write every event to ``sink`` and close it, also when writing fails.

    With ``batch`` above 1 a :class:`JsonlSink` takes the events that many
    at a time (:meth:`JsonlSink.write_batch`): the same bytes, written
    faster, but each batch waits until it is full, so a paced run (or a
    replay to a terminal) should keep the default and see every event as it
    is made.
    """
    transactions = labels = 0
    try:
        if batch > 1 and isinstance(sink, JsonlSink):
            iterator = iter(events)
            while chunk := list(islice(iterator, batch)):
                sink.write_batch(chunk)
                transactions += len(chunk)
                labels += len(chunk) - list(map(_LABEL, chunk)).count(None)
        else:
            for event in events:
                sink.write(event)
                transactions += 1
                labels += event.label is not None
    except BaseException:
        try:
            sink.close()
        except SinkError:
            logger.exception("closing the sink after a failed write also failed")
        raise
    sink.close()
    return SinkReport(transactions, labels)
