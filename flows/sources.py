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

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from alerts.metrics import PipelineMetrics
from riskwatch.contracts import RawRecord

#: A line longer than this is not a transaction; it is dead-lettered, its head kept.
MAX_RECORD_BYTES = 1 << 20
_KEPT_OF_TOO_LONG = 1024
_BOM = b"\xef\xbb\xbf"


class _JsonlPartition(StatefulSourcePartition[RawRecord, tuple[int, int]]):
    """Reads lines as bytes; the snapshot is (byte position, line number)."""

    def __init__(
        self,
        path: Path,
        resume_at: tuple[int, int] | None,
        batch_size: int,
        metrics: PipelineMetrics,
    ) -> None:
        self._file = path.open("rb")
        self._name = path.name
        self._batch_size = batch_size
        self._counter = metrics.records_read.labels(source=f"file:{path.name}")
        # Offsets are 1-based line numbers, which a person can open the file at.
        self._position, self._line = resume_at or (0, 0)
        self._file.seek(self._position)

    def _read_line(self) -> tuple[bytes, bool]:
        """The next line, and whether it was too long (then only its head is kept)."""
        line = self._file.readline(MAX_RECORD_BYTES + 1)
        if len(line) <= MAX_RECORD_BYTES or line.endswith(b"\n"):
            return line, False
        size = len(line)
        head = line[:_KEPT_OF_TOO_LONG]
        while line and not line.endswith(b"\n"):
            line = self._file.readline(MAX_RECORD_BYTES)
            size += len(line)
        self._position += size
        return head, True

    def next_batch(self) -> list[RawRecord]:
        batch: list[RawRecord] = []
        for _ in range(self._batch_size):
            start = self._position
            line, too_long = self._read_line()
            if not line:
                break
            self._line += 1
            if not too_long:
                self._position += len(line)
                line = line.rstrip(b"\r\n") if line.endswith(b"\n") else line
            if start == 0 and line.startswith(_BOM):
                line = line[len(_BOM) :]
            batch.append(RawRecord(self._name, self._name, self._line, line, too_long=too_long))
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
