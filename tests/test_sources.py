"""Sources resume from their snapshots without skipping or repeating a record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.metrics import PipelineMetrics
from flows.sources import JsonlFileSource, SimulatorSource
from riskwatch.contracts import RawRecord


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


def lines_as_read(data: bytes, limit: int, kept: int) -> list[tuple[int, bytes, bool]]:
    """What the file source must deliver: (line number, payload, too long), line by line.

    A plain restatement of the rules: lines end at b"\\n"; a newline-ended
    line loses its trailing b"\\r"s; a line over ``limit`` bytes (without its
    newline) keeps its first ``kept`` bytes and is marked too long; the file's
    byte order mark is dropped from the first record.
    """
    out = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        line = data[pos:] if end < 0 else data[pos:end]
        too_long = len(line) > limit
        if too_long:
            line = line[:kept]
        elif end >= 0:
            line = line.rstrip(b"\r")
        if pos == 0 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        out.append((len(out) + 1, line, too_long))
        pos = len(data) if end < 0 else end + 1
    return out


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pieces=st.lists(
        st.one_of(
            st.binary(max_size=12),
            st.sampled_from([b"\r", b"\r\r", b"\xef\xbb\xbf", b"{}", b"x" * 40]),
        ),
        max_size=25,
    ),
    ends=st.lists(st.sampled_from([b"\n", b"\r\n", b""]), min_size=25, max_size=25),
    bom=st.booleans(),
    chunk=st.integers(1, 64),
    batch=st.integers(1, 6),
    stop_after=st.integers(0, 8),
)
def test_a_jsonl_partition_reads_every_line_as_the_rules_say_in_any_chunks_and_resumes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pieces: list[bytes],
    ends: list[bytes],
    bom: bool,
    chunk: int,
    batch: int,
    stop_after: int,
) -> None:
    """Lines split across chunks, over the limit, with CRs and a BOM, resumed mid-file."""
    import flows.sources

    limit, kept = 30, 8
    monkeypatch.setattr(flows.sources, "MAX_RECORD_BYTES", limit)
    monkeypatch.setattr(flows.sources, "_KEPT_OF_TOO_LONG", kept)
    monkeypatch.setattr(flows.sources, "_CHUNK_BYTES", chunk)
    data = (b"\xef\xbb\xbf" if bom else b"") + b"".join(
        p.replace(b"\n", b"") + e for p, e in zip(pieces, ends, strict=False)
    )
    path = tmp_path / "quirks.jsonl"
    path.write_bytes(data)
    source = JsonlFileSource([path], PipelineMetrics(), batch_size=batch)
    first = source.build_part("in", "quirks.jsonl", None)
    head = drain(first, limit=stop_after * batch)
    state = first.snapshot()
    first.close()
    second = source.build_part("in", "quirks.jsonl", state)
    tail = drain(second)
    end = second.snapshot()
    second.close()
    got = [(r.offset, r.payload, r.too_long) for r in head + tail]
    assert got == lines_as_read(data, limit, kept)
    assert end == (len(data), len(got)), "the snapshot is past every byte and line read"


def test_kafka_messages_become_raw_records_counted_per_topic() -> None:
    from bytewax.connectors.kafka import KafkaSourceMessage

    from flows.operators import kafka_record

    metrics = PipelineMetrics()
    to_raw = kafka_record(metrics)
    messages = [
        KafkaSourceMessage(b"C1", b'{"n": 1}', topic="txns", offset=7, partition=2),
        KafkaSourceMessage(None, None, topic="txns", offset=8, partition=2),  # a tombstone
        KafkaSourceMessage(None, b"{}", topic="labels", offset=0, partition=0),
    ]
    records = [to_raw(m) for m in messages]
    assert records[0] == RawRecord("txns", "2", 7, b'{"n": 1}', b"C1")
    assert records[1].payload == b"" and records[2].source == "labels"
    samples = {
        s.labels["source"]: s.value
        for s in metrics.records_read.collect()[0].samples
        if s.name.endswith("_total")
    }
    assert samples == {"kafka:txns": 2.0, "kafka:labels": 1.0}
