"""The rules benchmark runs and reports every method; speed itself is not asserted."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench import rules


def test_the_rules_benchmark_reports_every_method(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rules.json"
    report = rules.main(["--events", "400", "--repeat", "1", "--out", str(out)])
    printed = capsys.readouterr()
    assert orjson.loads(printed.out) == report == orjson.loads(out.read_bytes())
    assert "baseline" in printed.err
    assert report["rules"] == 30
    assert report["events"] == 400
    assert report["hits_per_event"] > 0, "the events must exercise the hit path"
    assert set(report["methods"]) == {"baseline", "engine", "folded_only", "eval_per_rule"}
    assert report["methods"]["baseline"]["ratio_to_baseline"] == 1.0
    assert "us_per_hit" in report
    for method in report["methods"].values():
        assert method["us_per_event"] > 0


def test_the_baseline_and_the_engine_disagreeing_stops_the_benchmark() -> None:
    events = rules.make_events(200)
    engine = rules.engine_for_bench()
    with pytest.raises(SystemExit, match="disagree"):
        rules.check_agreement(
            {"baseline": rules.baseline, "engine": lambda x: rules.baseline(x)[1:]}, events
        )
    hits = rules.check_agreement(
        {
            "baseline": rules.baseline,
            "engine": lambda x: [h.rule_id for h in engine.evaluate(x).hits],
        },
        events,
    )
    assert hits > 0
