"""``flow.processes``: the monitor as a cluster of processes on this host.

A run over simulated files (transactions and delayed labels) with two
processes must account for every record as one process does, score every
transaction exactly once across the per-worker score files, and leave the
same customer state in Redis. Alerts are compared on the rules alone: each
process has its own models, which learn from its own customers' labels, so
model scores depend on how shards fall on processes, by design.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from flows.score_sink import score_files
from riskwatch.cluster import process_metrics_address
from riskwatch.runner import run_monitor
from simulator import JsonlSink, SimulationConfig, simulate, write_events
from tests.flowkit import alert_scores, redis_state, settings_for_test
from tests.test_integration import CONFIG


def _settings(run_dir: Path, redis_url: str, namespace: str, processes: int, files: Path):
    return settings_for_test(
        run_dir,
        redis_url,
        namespace,
        input={
            "source": "file",
            "paths": [files / "transactions.jsonl"],
            "label_paths": [files / "labels.jsonl"],
        },
        flow={
            "shards": 4,
            "batch_size": 50,
            "epoch_interval_seconds": 1.0,
            "workers": 1,
            "processes": processes,
            "scores_path": run_dir / "scores.jsonl",
        },
        detection={"anomaly": {"weight": 0}, "supervised": {"weight": 0}},
    )


def test_two_processes_account_for_every_record_as_one_does(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    files = tmp_path / "input"
    files.mkdir()
    report = write_events(
        simulate(CONFIG),
        JsonlSink.to_files(files / "transactions.jsonl", files / "labels.jsonl"),
    )
    runs = []
    for processes in (1, 2):
        run_dir = tmp_path / f"p{processes}"
        run_dir.mkdir()
        namespace = f"{key_prefix}p{processes}"
        settings = _settings(run_dir, redis_url, namespace, processes, files)
        summary = run_monitor(settings)
        scored = [
            orjson.loads(line)["txn_id"]
            for path in score_files(run_dir / "scores.jsonl")
            for line in path.read_bytes().splitlines()
        ]
        state = redis_state(redis_url, namespace)
        customers = {k: v for k, v in state.items() if not k.startswith("{ml}")}
        runs.append((summary, sorted(scored), customers, alert_scores(settings.database_url)))

    (one, one_scored, one_state, one_alerts), (two, two_scored, two_state, two_alerts) = runs
    assert len(score_files(tmp_path / "p2" / "scores.jsonl")) == 2, "one score file per worker"
    assert two.balanced and one.balanced
    assert (two.read, two.processed, two.labels) == (one.read, one.processed, one.labels)
    assert two.processed == report.transactions and two.labels == report.labels > 0
    assert two.dead_lettered == one.dead_lettered == 0
    assert two.cluster_cpu_seconds > 0 and one.cluster_cpu_seconds == 0
    assert two_scored == one_scored and len(set(two_scored)) == report.transactions
    assert two_state == one_state
    assert one_alerts, "the simulated frauds alert on rules alone"
    assert two_alerts == one_alerts


def test_a_failing_process_fails_the_run(tmp_path: Path, redis_url: str, key_prefix: str) -> None:
    files = tmp_path / "input"
    files.mkdir()
    write_events(
        simulate(SimulationConfig(seed=3, customers=5, days=1)),
        JsonlSink.to_files(files / "transactions.jsonl", files / "labels.jsonl"),
    )
    settings = _settings(tmp_path, redis_url, key_prefix, 2, files)
    # The labels file vanishes after the settings are made: the process that reads it fails.
    (files / "labels.jsonl").unlink()
    with pytest.raises(RuntimeError, match=r"monitor cluster failed: riskwatch-monitor-\d exited"):
        run_monitor(settings)


def test_each_process_serves_its_metrics_on_its_own_port() -> None:
    assert process_metrics_address("127.0.0.1:9108", 0) == "127.0.0.1:9108"
    assert process_metrics_address("127.0.0.1:9108", 2) == "127.0.0.1:9110"
    assert process_metrics_address(None, 1) is None
