"""The state benchmark runs end to end and reports every figure (speed is not asserted)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis
from bytewax.testing import TestingSink, run_main

from bench import state
from bench.throughput import Tally
from detectors.state import CustomerStateStore
from flows.assess import shard_of
from riskwatch.contracts import Transaction
from riskwatch.parsing import ValidationLimits
from simulator import SimulationConfig, simulate

TZ = ZoneInfo("Europe/Berlin")


def _store(redis_url: str, namespace: str) -> CustomerStateStore:
    return CustomerStateStore(redis.Redis.from_url(redis_url), namespace, 4 * 86400, 40 * 86400)


def _shard_batches(days: int) -> list[list[Transaction]]:
    """Simulated traffic cut as the flow cuts it: one shard's share of each 40 records."""
    txns = [e.txn for e in simulate(SimulationConfig(seed=3, customers=30, days=days))]
    out = []
    for start in range(0, len(txns), 40):
        part = [t for t in txns[start : start + 40] if shard_of(t.customer_id, 2) == "s0"]
        if part:
            out.append(part)
    return out


def test_overlapped_features_are_those_of_the_waiting_step(redis_url: str, key_prefix: str) -> None:
    """A batch's features come at the shard's next batch, a snapshot or the input's end."""
    batches = _shard_batches(6)
    assert len(batches) > 5
    waiting = state._WaitingFeatureLogic(_store(redis_url, key_prefix + "w"), TZ, state.HotPath())
    overlapped = state._FeatureLogic(_store(redis_url, key_prefix + "o"), TZ, state.HotPath())
    want, got = [], []
    for n, batch in enumerate(batches):
        want.extend(waiting.on_batch(batch)[0])
        out, _ = overlapped.on_batch(batch)
        assert overlapped.notify_at() is not None
        if n == 3:
            # A snapshot finishes the sent batch and keeps its features until emitted.
            assert overlapped.snapshot() == tuple(want[len(got) + len(out) :])
        got.extend(out)
    got.extend(overlapped.on_eof()[0])
    assert got == want
    assert overlapped.snapshot() == () and overlapped.notify_at() is None
    assert overlapped.on_notify()[0] == []


def test_a_resumed_step_emits_what_its_snapshot_finished(redis_url: str, key_prefix: str) -> None:
    """A batch sent before a snapshot is finished by it, not replayed as duplicates."""
    first, second = _shard_batches(3)[:2]
    waiting = state._WaitingFeatureLogic(_store(redis_url, key_prefix + "w"), TZ, state.HotPath())
    want = waiting.on_batch(first)[0] + waiting.on_batch(second)[0]
    step = state._FeatureLogic(_store(redis_url, key_prefix), TZ, state.HotPath())
    got = step.on_batch(first)[0] + step.on_batch(second)[0]
    held = step.snapshot()
    # The process dies here: the second batch was recorded, its features never emitted.
    resumed = state._FeatureLogic(_store(redis_url, key_prefix), TZ, state.HotPath(), held)
    assert resumed.notify_at() is not None
    assert got + resumed.on_notify()[0] == want


def test_the_flow_emits_every_event(redis_url: str, key_prefix: str, tmp_path: Path) -> None:
    """Through Bytewax: every event's features, the waiting step's, the last batches flushed."""
    path = tmp_path / "in.jsonl"
    txns = [e.txn for e in simulate(SimulationConfig(seed=4, customers=20, days=4))]
    path.write_bytes(b"".join(orjson.dumps(t.to_json_dict()) + b"\n" for t in txns))
    limits = ValidationLimits(max_future=timedelta(days=3650))
    emitted = {}
    for waiting in (False, True):
        got: list[tuple[str, dict[str, Any]]] = []
        flow = state.features_flow(
            path, 100, limits, _store(redis_url, f"{key_prefix}{waiting}"), TZ, 4, Tally(),
            state.HotPath(), waiting, TestingSink(got),
        )  # fmt: skip
        run_main(flow)
        emitted[waiting] = Counter(orjson.dumps(f, option=orjson.OPT_SORT_KEYS) for _, f in got)
    assert sum(emitted[False].values()) == len(txns)
    assert emitted[False] == emitted[True]


@pytest.mark.slow
def test_state_benchmark_reports_every_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "state.json"
    report = state.main(["--customers", "8", "--days", "3", "--out", str(out)])
    printed = capsys.readouterr()
    assert orjson.loads(out.read_bytes()) == report == orjson.loads(printed.out)
    assert "features" in printed.err
    assert set(report["stages"]) == {"baseline", "features", "features_waiting", "monitor"}
    events = report["input"]["events"]
    for stage in report["stages"].values():
        assert stage["runs_events"] == [events]
        assert stage["events_per_second"] > 0
    assert 0 < report["hot_path"]["apply_share"] < 1
    assert report["hot_path"]["apply_cpu_microseconds_per_event"] > 0
    assert report["hot_path"]["entity_script_microseconds_per_event"] > 0
    # One batch holds the whole input: each customer read (never held) and written once.
    customers = report["input"]["customers"]
    assert report["hot_path"]["customer_blobs_read_per_event"] == round(customers / events, 3)
    assert report["hot_path"]["customer_blobs_written_per_event"] == round(customers / events, 3)
    assert report["redis"]["bytes_per_customer"] > 0
    assert report["redis"]["memory_usage_per_customer_by_owner"]["customer"] > 0
    assert report["redis"]["projected_bytes_for_10m_customers"] > 0


@pytest.mark.slow
def test_entity_script_benchmark_counts_instructions(tmp_path: Path) -> None:
    import shutil

    from bench import entity_script

    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    out = tmp_path / "entity_script.json"
    report = entity_script.main(["--customers", "8", "--days", "3", "--events", "200",
                                 "--out", str(out)])  # fmt: skip
    assert orjson.loads(out.read_bytes()) == report
    assert 0 < report["input"]["events"] <= 200
    assert report["entities_lua"] > report["null_script"] > 0
    assert report["entity_script_alone"] == report["entities_lua"] - report["null_script"]
