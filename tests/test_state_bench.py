"""The state benchmark runs end to end and reports every figure (speed is not asserted)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench import state


@pytest.mark.slow
def test_state_benchmark_reports_every_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "state.json"
    report = state.main(["--customers", "8", "--days", "3", "--out", str(out)])
    printed = capsys.readouterr()
    assert orjson.loads(out.read_bytes()) == report == orjson.loads(printed.out)
    assert "features" in printed.err
    assert set(report["stages"]) == {"baseline", "features", "monitor"}
    events = report["input"]["events"]
    for stage in report["stages"].values():
        assert stage["runs_events"] == [events]
        assert stage["events_per_second"] > 0
    assert 0 < report["hot_path"]["apply_share"] < 1
    assert report["hot_path"]["apply_cpu_microseconds_per_event"] > 0
    assert 0 < report["hot_path"]["entity_script_share_of_apply"] < 1
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
