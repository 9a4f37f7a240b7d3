"""The case store benchmark runs end to end and reports every figure (speed is not asserted)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench import case_store


@pytest.mark.slow
def test_case_store_benchmark_reports_every_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cases.json"

    report = case_store.main(["--alerts", "300", "--repeat", "1", "--out", str(out)])

    printed = capsys.readouterr()
    assert orjson.loads(printed.out) == report == orjson.loads(out.read_bytes())
    assert "baseline" in printed.err
    assert set(report["stages"]) == {"baseline", "store", "store_folding"}
    for stage in report["stages"].values():
        assert stage["alerts_per_second"] > 0
    assert report["stages"]["baseline"]["ratio_to_baseline"] == 1.0
    assert report["input"]["folded"] == 200  # two of each customer's three alerts
    assert set(report["queue_ms"]) == {"baseline_select", "queue", "queue_typology"}
