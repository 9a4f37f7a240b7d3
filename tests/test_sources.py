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
            # Lines of the limit (30) and one byte either side, with or without a CR.
            st.sampled_from([b"\r", b"\r\r", b"\xef\xbb\xbf", b"{}", b"x" * 40]),
            st.sampled_from([29, 30, 31]).map(lambda n: b"x" * n),
            st.sampled_from([28, 29, 30]).map(lambda n: b"x" * n + b"\r"),
        ),
        max_size=25,
    ),
    ends=st.lists(st.sampled_from([b"\n", b"\r\n", b""]), min_size=25, max_size=25),
    bom=st.booleans(),
    chunk=st.integers(1, 64) | st.sampled_from([29, 30, 31, 32]),
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


@pytest.mark.parametrize("chunk", [1 << 18, 1000, 1001, 999, 7])
def test_a_line_of_exactly_the_limit_is_a_record_and_one_byte_more_is_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    import flows.sources

    monkeypatch.setattr(flows.sources, "MAX_RECORD_BYTES", 1000)
    monkeypatch.setattr(flows.sources, "_KEPT_OF_TOO_LONG", 100)
    monkeypatch.setattr(flows.sources, "_CHUNK_BYTES", chunk)
    lines = [b"a" * 1000, b"b" * 1001, b"c" * 999, b"d" * 1000, b"e" * 1001]
    path = tmp_path / "limit.jsonl"
    path.write_bytes(b"\n".join(lines[:3]) + b"\r\n" + b"\n".join(lines[3:]))
    source = JsonlFileSource([path], PipelineMetrics(), batch_size=2)
    part = source.build_part("in", "limit.jsonl", None)
    got = drain(part)
    part.close()
    assert [(r.offset, len(r.payload), r.too_long) for r in got] == [
        (1, 1000, False), (2, 100, True), (3, 999, False), (4, 1000, False), (5, 100, True)
    ]  # fmt: skip


def test_lines_appended_after_the_end_are_read_by_the_next_batch(tmp_path: Path) -> None:
    """As with readline: the end of the file is where it ends now, not for good."""
    path = tmp_path / "growing.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2}\n')
    part = JsonlFileSource([path], PipelineMetrics(), batch_size=5).build_part(
        "in", "growing.jsonl", None
    )
    assert [r.payload for r in part.next_batch()] == [b'{"n": 1}', b'{"n": 2}']
    with path.open("ab") as f:
        f.write(b'{"n": 3}\n{"n": 4')
    assert [r.payload for r in part.next_batch()] == [b'{"n": 3}', b'{"n": 4']
    with pytest.raises(StopIteration):
        part.next_batch()
    with path.open("ab") as f:
        f.write(b'}\n{"n": 5}\n')
    assert [(r.offset, r.payload) for r in part.next_batch()] == [(5, b"}"), (6, b'{"n": 5}')]
    assert part.snapshot() == (path.stat().st_size, 6)
    part.close()


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
