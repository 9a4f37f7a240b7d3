"""The throughput benchmark runs end to end and reports every figure.

Speed itself is never asserted: these machines are shared and noisy, so the
benchmark reports ratios to a baseline flow for people to read
(``make bench``), and this test only checks that the report is complete.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench import throughput


@pytest.mark.slow
def test_benchmark_reports_every_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "throughput.json"

    report = throughput.main(["--events", "2000", "--repeat", "1", "--out", str(out)])

    printed = capsys.readouterr()
    assert orjson.loads(printed.out) == report
    assert orjson.loads(out.read_bytes()) == report
    assert "baseline" in printed.err  # the table
    assert set(report) >= {"input", "stages", "monitor", "redis", "process", "machine"}
    assert report["input"]["events"] == 2000
    assert report["input"]["customers"] > 0
    assert set(report["stages"]) == {"baseline", "parse", "monitor"}
    for stage in report["stages"].values():
        assert stage["events_per_second"] > 0
        assert stage["ratio_to_baseline"] > 0
        assert stage["best_events_per_second"] >= stage["events_per_second"]
        assert stage["runs_events"] and set(stage["runs_events"]) == {2000}
    assert report["stages"]["baseline"]["ratio_to_baseline"] == 1.0
    assert report["parse_rejected"] == 0
    assert report["monitor"]["balanced"]
    assert report["monitor"]["alerts"] >= 0
    assert report["redis"]["used_memory_bytes"] > 0
    assert report["redis"]["bytes_per_customer"] > 0
    assert report["process"]["peak_rss_mib"] > 0
    assert report["machine"]["cpu_count"] >= 1


@pytest.mark.slow
def test_cluster_benchmark_reports_each_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import cluster

    out = tmp_path / "cluster.json"
    report = cluster.main(["--days", "3", "--out", str(out)])

    printed = capsys.readouterr()
    assert orjson.loads(printed.out) == report == orjson.loads(out.read_bytes())
    assert "events by process" in printed.err  # the table
    events = report["input"]["events"]
    assert events > 0
    assert [(s["stage"], s["processes"]) for s in report["stages"]] == list(cluster.STAGES)
    for stage in report["stages"]:
        assert stage["balanced"], "every transaction reached the assessing step once"
        assert len(stage["events_by_process"]) == stage["processes"]
        assert stage["cpu_seconds"] > 0 and stage["cpu_ratio_to_one_process"] > 0
    assert report["stages"][0]["cpu_ratio_to_one_process"] == 1.0
