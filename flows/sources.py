"""Sources that deliver :class:`~riskwatch.contracts.RawRecord` items.

Records stay raw bytes until the parse step, so that a record a source cannot
decode (not UTF-8, not JSON) still reaches the dead-letter sink intact.
Every source counts what it reads in ``riskwatch_records_read_total``.
Each source snapshots its position, so a run resumed by Bytewax recovery
neither re-reads nor skips what was read before the snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import NamedTuple, cast

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from alerts.metrics import PipelineMetrics
from riskwatch.contracts import RawRecord

#: A line longer than this is not a transaction; it is dead-lettered, its head kept.
MAX_RECORD_BYTES = 1 << 20
_KEPT_OF_TOO_LONG = 1024
_BOM = b"\xef\xbb\xbf"


#: Bytes read from a file at a time; its lines are split in one call.
_CHUNK_BYTES = 1 << 18


class _OddLine(NamedTuple):
    """A line that is not a plain newline-terminated record: its payload and bytes consumed.

    The last line when it has no newline, and a line over the size limit
    (``too_long``; the payload is its head).
    """

    payload: bytes
    consumed: int
    too_long: bool = False


class _JsonlPartition(StatefulSourcePartition[RawRecord, tuple[int, int]]):
    """Reads lines as bytes; the snapshot is (byte position, line number).

    The file is read in chunks of ``_CHUNK_BYTES`` split at newlines in one
    call, not a ``readline`` per line: with RawRecord a named tuple, ~6.6k
    instructions a line instead of ~15.8k (callgrind, bench.state's input).
    A line over ``MAX_RECORD_BYTES`` is never held whole: once the
    unfinished line passes the limit, only its head is kept and the rest is
    counted as it is skipped.
    """

    def __init__(
        self,
        path: Path,
        resume_at: tuple[int, int] | None,
        batch_size: int,
        metrics: PipelineMetrics,
    ) -> None:
        self._file = path.open("rb", buffering=0)
        self._name = path.name
        self._batch_size = batch_size
        self._counter = metrics.records_read.labels(source=f"file:{path.name}")
        # Offsets are 1-based line numbers, which a person can open the file at.
        self._position, self._line = resume_at or (0, 0)
        self._file.seek(self._position)
        self._lines: list[bytes | _OddLine] = []
        """Whole lines read and not yet delivered (from ``_next`` on), without their newline."""
        self._next = 0
        self._tail = b""
        """The unfinished line at the end of what was read (at most the limit)."""
        self._skipped = -1
        """While a line over the limit is skipped: its bytes so far (its head is ``_tail``)."""

    def _read_lines(self) -> bool:
        """Read chunks until whole lines are ready; False at the end of the file.

        The end is not final: a later call reads what was appended since, as
        ``readline`` did (an unfinished last line is delivered as it stands).
        """
        while True:
            chunk = self._file.read(_CHUNK_BYTES)
            if not chunk:
                if self._skipped >= 0:
                    self._lines = [_OddLine(self._tail, self._skipped, True)]
                elif self._tail:
                    self._lines = [_OddLine(self._tail, len(self._tail))]
                else:
                    return False
                self._next, self._tail, self._skipped = 0, b"", -1
                return True
            if self._skipped >= 0:
                end = chunk.find(b"\n")
                if end < 0:
                    self._skipped += len(chunk)
                    continue
                odd = _OddLine(self._tail, self._skipped + end + 1, True)
                self._tail, self._skipped = b"", -1
                lines = [odd, *self._split(chunk[end + 1 :])]
            else:
                lines = self._split(self._tail + chunk if self._tail else chunk)
            if lines:
                self._lines, self._next = lines, 0
                return True

    def _split(self, data: bytes) -> list[bytes | _OddLine]:
        """``data``'s whole lines; the rest becomes the tail (or is skipped, past the limit)."""
        lines = cast(list[bytes | _OddLine], data.split(b"\n"))
        tail = cast(bytes, lines.pop())
        limit = MAX_RECORD_BYTES
        if len(data) > limit:  # only then can a line be over the limit
            lines = [
                _OddLine(line[:_KEPT_OF_TOO_LONG], len(line) + 1, True)
                if type(line) is bytes and len(line) > limit
                else line
                for line in lines
            ]
        if len(tail) > limit:
            self._tail, self._skipped = tail[:_KEPT_OF_TOO_LONG], len(tail)
        else:
            self._tail = tail
        return lines

    def next_batch(self) -> list[RawRecord]:
        batch: list[RawRecord] = []
        name, line_no, position = self._name, self._line, self._position
        want = self._batch_size
        while want > 0:
            if self._next >= len(self._lines) and not self._read_lines():
                break
            take = self._lines[self._next : self._next + want]
            self._next += len(take)
            want -= len(take)
            for line in take:
                line_no += 1
                if type(line) is bytes:
                    position += len(line) + 1
                    batch.append(RawRecord(name, name, line_no, line.rstrip(b"\r")))
                else:
                    odd = cast(_OddLine, line)
                    position += odd.consumed
                    batch.append(RawRecord(name, name, line_no, odd.payload, None, odd.too_long))
        if self._position == 0 and batch and batch[0].payload.startswith(_BOM):
            batch[0] = batch[0]._replace(payload=batch[0].payload[len(_BOM) :])
        self._line, self._position = line_no, position
        if not batch:
            raise StopIteration
        self._counter.inc(len(batch))
        return batch

    def snapshot(self) -> tuple[int, int]:
        return (self._position, self._line)

    def close(self) -> None:
        self._file.close()


class JsonlFileSource(FixedPartitionedSource[RawRecord, tuple[int, int]]):
    """Read one JSON transaction per line from files; one partition per file."""

    def __init__(self, paths: list[Path], metrics: PipelineMetrics, batch_size: int = 1000):
        self._paths = {path.name: path for path in paths}
        if len(self._paths) != len(paths):
            msg = "input files must have distinct names (they name the partitions)"
            raise ValueError(msg)
        self._metrics = metrics
        self._batch_size = batch_size

    def list_parts(self) -> list[str]:
        return list(self._paths)

    def build_part(
        self, step_id: str, for_part: str, resume_state: tuple[int, int] | None
    ) -> _JsonlPartition:
        return _JsonlPartition(self._paths[for_part], resume_state, self._batch_size, self._metrics)


class _IteratorPartition(StatefulSourcePartition[RawRecord, int]):
    def __init__(
        self,
        records: Iterator[bytes],
        name: str,
        resume_at: int | None,
        batch_size: int,
        metrics: PipelineMetrics,
    ) -> None:
        self._records = records
        self._name = name
        self._batch_size = batch_size
        self._counter = metrics.records_read.labels(source=name)
        self._offset = 0
        # Deterministic sources are resumed by regenerating and skipping.
        for _ in range(resume_at or 0):
            next(self._records, None)
            self._offset += 1

    def next_batch(self) -> list[RawRecord]:
        batch: list[RawRecord] = []
        for payload in self._records:
            batch.append(RawRecord(self._name, self._name, self._offset, payload))
            self._offset += 1
            if len(batch) >= self._batch_size:
                break
        if not batch:
            raise StopIteration
        self._counter.inc(len(batch))
        return batch

    def snapshot(self) -> int:
        return self._offset


class SimulatorSource(FixedPartitionedSource[RawRecord, int]):
    """The simulator, in process, as the flow's input (no Kafka needed).

    Transactions are serialised to JSON and parsed again downstream, so the
    in-process path exercises exactly what a Kafka or file input would.
    """

    def __init__(
        self,
        customers: int,
        days: int,
        seed: int,
        start: datetime,
        metrics: PipelineMetrics,
        batch_size: int = 1000,
    ) -> None:
        self._customers = customers
        self._days = days
        self._seed = seed
        self._start = start
        self._metrics = metrics
        self._batch_size = batch_size

    def list_parts(self) -> list[str]:
        return ["simulator"]

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _IteratorPartition:
        from simulator import SimulationConfig, simulate_wire

        config = SimulationConfig(
            seed=self._seed, customers=self._customers, days=self._days, start=self._start
        )
        # The wire form is the JSON a Kafka producer would send, built without
        # the Transaction objects the parse step is about to make anyway.
        payloads = (event.txn for event in simulate_wire(config))
        return _IteratorPartition(
            payloads, "simulator", resume_state, self._batch_size, self._metrics
        )
