"""Sources resume from their snapshots without skipping or repeating a record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alerts.metrics import PipelineMetrics
from flows.sources import JsonlFileSource, SimulatorSource


def drain(part, limit: int | None = None) -> list:
    out = []
    while limit is None or len(out) < limit:
        try:
            out.extend(part.next_batch())
        except StopIteration:
            break
    return out


def test_a_jsonl_partition_resumes_at_its_snapshot(tmp_path: Path) -> None:
    lines = [f'{{"n": {i}}}'.encode() for i in range(25)]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\r\n".join(lines))  # CRLF, and no newline after the last
    source = JsonlFileSource([path], PipelineMetrics(), batch_size=4)
    first = source.build_part("in", "in.jsonl", None)
    head = drain(first, limit=12)
    state = first.snapshot()
    first.close()
    second = source.build_part("in", "in.jsonl", state)
    tail = drain(second)
    second.close()
    records = head + tail
    assert [r.payload for r in records] == lines
    assert [r.offset for r in records] == list(range(1, 26)), "offsets are line numbers"


def test_the_simulator_source_resumes_where_it_stopped() -> None:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    source = SimulatorSource(20, 2, 3, start, PipelineMetrics(), batch_size=7)
    whole = drain(source.build_part("sim", "simulator", None))
    first = source.build_part("sim", "simulator", None)
    head = drain(first, limit=21)
    tail = drain(source.build_part("sim", "simulator", first.snapshot()))
    assert [r.payload for r in head + tail] == [r.payload for r in whole]
    assert [r.offset for r in head + tail] == list(range(len(whole)))
