"""Backtests over simulated traffic: the monitor's own features, figures that add up."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from bytewax.testing import run_main

from alerts.metrics import PipelineMetrics
from flows.monitor import get_flow
from riskwatch.cli import main
from riskwatch.settings import Settings
from rules.backtest import read_positives, run_backtest
from rules.pack import pack_path
from rules.runtime import engine_from_settings
from simulator import JsonlSink, SimulationConfig, simulate_wire, write_events
from tests.flowkit import everyday_traffic, settings_for_test, txn, write_jsonl


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `riskwatch simulate --out DIR` writes, with every scenario made frequent."""
    out = tmp_path_factory.mktemp("sim")
    rates = {"stolen_card_spree": 0.02, "account_takeover": 0.02, "card_testing": 0.02}
    config = SimulationConfig(seed=11, customers=80, days=4, rates=rates)
    sink = JsonlSink.to_files(out / "transactions.jsonl", out / "labels.jsonl")
    write_events(simulate_wire(config), sink)
    return out


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, key_prefix: str) -> Settings:
    return settings_for_test(tmp_path, redis_url, key_prefix)


@pytest.fixture
def tuned_pack(tmp_path: Path) -> Path:
    """The foundation pack, v3: the burst rule needs less, the night rule is off."""
    text = pack_path("foundation").read_text(encoding="utf-8")
    text = text.replace("version: 2\n", "version: 3\n", 1)
    text = text.replace("debit_count_1h >= 5 and debit_sum_1h >= 3000", "debit_count_1h >= 3")
    night = '    when: channel == "atm"'
    text = text.replace(f"mode: active\n{night}", f"mode: off\n{night}")
    path = tmp_path / "foundation_v3.yaml"
    path.write_text(text)
    return path


def test_the_backtest_counts_what_the_monitor_sees(
    traffic: Path, settings: Settings, tmp_path: Path
) -> None:
    """Each rule's hits equal the running monitor's hit outcomes on the same file."""
    transactions = traffic / "transactions.jsonl"
    engine = engine_from_settings(settings)  # the shipped packs, as the monitor loads them
    backtest = run_backtest(settings, [engine], transactions, traffic / "labels.jsonl")
    (report,) = backtest.reports

    metrics = PipelineMetrics()
    file_settings = settings.replace(input={"source": "file", "paths": [transactions]})
    run_main(get_flow(file_settings, metrics))
    registry = metrics.registry

    def monitor_count(rule_id: str, mode: str, outcome: str) -> float:
        labels = {"rule": rule_id, "mode": mode, "outcome": outcome}
        return registry.get_sample_value("riskwatch_rule_outcomes_total", labels) or 0

    for rule in report.rules:
        # Alerts are the hits the monitor let through; the rest it suppressed.
        assert rule.alerts == monitor_count(rule.rule_id, rule.mode, "hit"), rule.rule_id
        suppressed = monitor_count(rule.rule_id, rule.mode, "suppressed")
        assert rule.hits - rule.alerts == suppressed, rule.rule_id

    assert report.events == len(transactions.read_bytes().splitlines())
    assert report.positives == len(read_positives(traffic / "labels.jsonl")) > 0
    assert sum(r.hits for r in report.rules) > 0
    rows = {row["rule"]: row for row in report.per_rule()}
    assert rows["velocity_burst"]["recall"] > 0, "the sprees are in the traffic"
    assert sum(r.hits - r.alerts for r in report.rules) > 0, "suppression windows held some back"
    for row in rows.values():
        for name in ("precision", "recall", "overlap"):
            assert row[name] is None or 0 <= row[name] <= 1
    positives_hit = report.to_json_dict()["any_rule"]["recall"] * report.positives
    assert positives_hit == pytest.approx(len(report.hit_positives))


def test_compare_puts_two_versions_side_by_side(
    traffic: Path, tuned_pack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    argv = [
        "rules", "backtest", str(tuned_pack), "--input", str(traffic / "transactions.jsonl"),
        "--labels", str(traffic / "labels.jsonl"), "--compare", "foundation", "--json", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "foundation@3 (new) against foundation@2 (old)" in printed
    report = orjson.loads(out.read_bytes())
    new, old = ({row["rule"]: row for row in p["rules"]} for p in report["packs"])
    assert "night_cash_withdrawal" not in new, "off rules are not evaluated"
    assert "night_cash_withdrawal" in old
    assert new["card_spend_burst"]["hits"] > old["card_spend_burst"]["hits"]
    unchanged = set(new) - {"card_spend_burst"}
    assert all(new[r]["hits"] == old[r]["hits"] for r in unchanged)
    assert "absent" in printed


def test_rules_test_lints_and_fails_on_a_broken_pack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        pack_path("foundation").read_text(encoding="utf-8").replace("hour < 5", "hour() < 5")
    )
    assert main(["rules", "test", "foundation", str(broken)]) == 1
    printed = capsys.readouterr().out
    assert "ok   foundation@2" in printed
    assert "FAIL" in printed and "rule 'night_cash_withdrawal'" in printed
    assert "'hour' is not callable" in printed or "only these functions" in printed


def test_bad_records_are_counted_and_bad_labels_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traffic = write_jsonl(
        tmp_path / "t.jsonl",
        [orjson.dumps(r) for r in everyday_traffic(customers=2, per_customer=3)]
        + [b'{"txn_id": "T1", ', orjson.dumps(txn(99, "C001", 5, amount="-3.00"))],
    )
    labels = write_jsonl(tmp_path / "l.jsonl", [b'{"txn_id": "T000001", "label": "fraud"}'])
    args = ["rules", "backtest", "foundation", "--input", str(traffic)]
    assert main([*args, "--labels", str(labels)]) == 1
    assert f"{labels}:1: not a label" in capsys.readouterr().err

    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "backtest over 6 transactions" in printed
    assert "invalid_amount: 1, invalid_json: 1" in printed
