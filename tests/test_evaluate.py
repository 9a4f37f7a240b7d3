"""`riskwatch evaluate`: the flow's score record, and both evaluation modes end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest
from bytewax.testing import TestingSource, run_main

from alerts.metrics import PipelineMetrics
from evaluation import channels_eval, handbook_eval
from evaluation.channels_eval import per_scenario
from evaluation.scores import read_scores
from flows.monitor import get_flow
from flows.score_sink import score_files
from riskwatch import cli
from riskwatch.contracts import RawRecord
from riskwatch.settings import load_settings
from simulator import SCENARIOS, SimulationConfig
from simulator.handbook import HandbookConfig
from tests.flowkit import everyday_traffic, settings_for_test, spree, stored_alerts


def test_the_flow_records_every_transactions_scores_once(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    scores = tmp_path / "scores.jsonl"
    settings = settings_for_test(tmp_path, redis_url, key_prefix, flow={"scores_path": scores})
    records = everyday_traffic(customers=4, per_customer=5) + spree("C002", start_minutes=300)
    payloads = [orjson.dumps(r) for r in sorted(records, key=lambda r: r["ts"])]
    payloads.append(payloads[0])  # a replayed transaction is not scored twice
    raw = [RawRecord("test", "0", i, p) for i, p in enumerate(payloads)]
    run_main(get_flow(settings, PipelineMetrics(), source=TestingSource(raw, 10)))

    lines = [orjson.loads(line) for line in scores.read_bytes().splitlines()]
    assert sorted(r["txn_id"] for r in lines) == sorted(r["txn_id"] for r in records)
    assert all(
        set(r) == {"txn_id", "customer_id", "ts", "risk", "alerted", "models"} for r in lines
    )
    assert all(
        {"half_space_trees", "online_logistic_regression"} <= set(r["models"]) for r in lines
    )
    # The scores are the ones the alerts were raised on (alerts show a tenth).
    risk = {r["txn_id"]: round(r["risk"], 1) for r in lines}
    alerts = stored_alerts(settings.database_url)
    assert alerts
    assert all(risk[a["txn_id"]] == a["score"] for a in alerts)
    threshold = settings.detection.alert_threshold
    assert {t for t, r in risk.items() if r >= threshold} == {a["txn_id"] for a in alerts}
    assert {r["txn_id"] for r in lines if r["alerted"]} == {a["txn_id"] for a in alerts}
    table = read_scores(score_files(scores))
    assert (len(table), table.duplicates) == (len(records), 0)


def test_scores_of_a_model_first_seen_later_are_missing_before(tmp_path: Path) -> None:
    path = tmp_path / "scores.jsonl"
    records = [
        {"txn_id": "T1", "risk": 10.0, "models": {}},
        {"txn_id": "T2", "risk": 20.0, "models": {"m": 0.5}},
        {"txn_id": "T1", "risk": 99.0, "models": {"m": 0.9}},  # a replay: first score kept
        {"txn_id": "T3", "risk": 30.0, "models": {}},
    ]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    table = read_scores([path])
    assert table.txn_ids == ["T1", "T2", "T3"]
    assert table.duplicates == 1
    assert table.columns["risk"].tolist() == [10.0, 20.0, 30.0]
    m = table.columns["model:m"]
    assert np.isnan(m[0]) and m[1] == 0.5 and np.isnan(m[2])


def test_instances_split_on_long_gaps_and_delay_runs_to_the_first_alert() -> None:
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    times = {f"T{i}": t0 + timedelta(minutes=m) for i, m in enumerate([0, 10, 20, 3000, 3010])}
    labels = [
        {"txn_id": f"T{i}", "customer_id": "C1", "label": "fraud", "scenario": "spree"}
        for i in range(5)
    ] + [{"txn_id": "T9", "customer_id": "C1", "label": "fraud", "scenario": "spree"}]
    (result,) = per_scenario(labels, times, alerted={"T1", "T2", "X"})
    # T0..T2 and T3..T4 are two instances (2,980 minutes apart); T9 was never scored.
    assert (result.instances, result.detected_instances, result.transactions) == (2, 1, 5)
    assert result.alerted == 2
    assert result.recall == 2 / 5
    assert result.delay_median_minutes == 10.0
    assert result.alerts_share == 2 / 3


def test_handbook_evaluation_scores_every_transaction_and_reports_the_protocol(
    tmp_path: Path,
) -> None:
    # A small world that still reaches the last test week (day 156), with fraud scaled down.
    config = HandbookConfig(
        seed=1,
        customers=40,
        terminals=1000,
        days=157,
        compromised_terminals_per_day=1,
        compromised_customers_per_day=0,
    )
    evaluation = handbook_eval.evaluate_handbook(config, load_settings(), tmp_path / "hb")

    assert evaluation.transactions > 5000
    assert (evaluation.scored, evaluation.unscored) == (evaluation.transactions, 0)
    assert evaluation.run.summary.dead_lettered == 0
    assert set(evaluation.results) == {
        "risk",
        "model:half_space_trees",
        "model:online_logistic_regression",
    }
    assert evaluation.labels_fed_to_flow
    for result in evaluation.results.values():
        assert len(result.weeks) == 4
        assert all(w.transactions > 0 for w in result.weeks)
        assert all(0.0 <= m <= 1.0 for m in result.mean)
    report = handbook_eval.report_json(evaluation)
    assert report["run"]["scored"] == evaluation.transactions
    assert report["labels_fed_to_flow"] is True
    assert report["run"]["monitor_cpu_seconds"] > 0
    table = handbook_eval.report_table(evaluation)
    assert "Handbook xgboost_50_trees_lr_0.3_depth_3" in table
    assert "0.872 ± 0.011" in table


def test_channels_evaluation_matches_the_case_store(tmp_path: Path) -> None:
    config = SimulationConfig(seed=4, customers=200, days=3, rates=dict.fromkeys(SCENARIOS, 0.02))
    evaluation = channels_eval.evaluate_channels(config, load_settings(), tmp_path / "ch")

    assert evaluation.transactions == evaluation.run.summary.processed
    summary = evaluation.run.summary
    assert evaluation.alerts == summary.alerts == summary.alerts_in_store + summary.alerts_folded
    assert evaluation.scenarios, "the simulator injects fraud at its default rates"
    positives = [r for r in evaluation.scenarios if r.label in channels_eval.POSITIVE]
    assert evaluation.true_alerts == sum(r.alerted for r in positives)
    for r in evaluation.scenarios:
        assert 0 <= r.detected_instances <= r.instances
        assert r.alerted <= r.transactions
        assert (r.delay_median_minutes is None) == (r.detected_instances == 0)
    assert "alerts per 1,000" not in channels_eval.report_table(evaluation)  # wording check
    assert "per 1,000" in channels_eval.report_table(evaluation)


def test_evaluate_command_writes_its_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = cli.main(
        ["evaluate", "--mode", "channels", "--customers", "60", "--days", "2", "--seed", "3"]
    )
    assert code == 0
    report = orjson.loads((tmp_path / "var" / "eval" / "channels-report.json").read_bytes())
    assert report["mode"] == "channels"
    assert report["dataset"]["customers"] == 60
    assert report["run"]["read"] == report["dataset"]["transactions"]


def test_the_handbook_evaluation_runs_on_a_cluster_of_two_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out, report_path = tmp_path / "hb", tmp_path / "hb.json"
    argv = ["evaluate", "--customers", "30", "--days", "4", "--terminals", "300"]
    code = cli.main([*argv, "--processes", "2", "--out", str(out), "--report", str(report_path)])
    assert code == 0
    report = orjson.loads(report_path.read_bytes())
    run = report["run"]
    assert run["processes"] == 2
    assert run["processed"] == report["dataset"]["transactions"] > 0
    assert run["read"] > run["processed"], "the labels were read beside the transactions"
    assert (run["scored"], run["unscored"], run["duplicate_scores"]) == (run["processed"], 0, 0)
    assert len(list(out.glob("scores.w*.jsonl"))) == 2, "one score file per worker"
