"""The hot-path benchmark runs end to end and reports every figure (speed is not asserted)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench import hotpath


@pytest.mark.slow
def test_hotpath_benchmark_reports_every_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hotpath.json"
    report = hotpath.main(["--customers", "8", "--days", "3", "--repeat", "2", "--out", str(out)])
    printed = capsys.readouterr()
    assert report is not None
    assert orjson.loads(out.read_bytes()) == report == orjson.loads(printed.out)
    assert "build_features" in printed.err
    assert set(report["stages"]) == set(hotpath.STAGES)
    assert report["input"]["events"] > 0
    for stage in report["stages"].values():
        assert len(stage["runs_cpu_microseconds_per_event"]) == 2
        assert stage["cpu_microseconds_per_event"] > 0
    assert report["stages"]["parse"]["yardstick"] == "decode"
    assert report["stages"]["build_features"]["ratio_to_yardstick"] > 0
