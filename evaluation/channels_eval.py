"""``riskwatch evaluate --mode channels``: detection per scenario of the bank simulator.

The multi-channel simulator's traffic goes through the real monitor, as in
Handbook mode, with the simulator's labels (delayed as it was configured)
fed to the flow for its models to learn from; the alerts it raised (every
transaction its score record marks ``alerted``) are set against the
simulator's labels:

* a scenario *instance* is one customer's labelled transactions of one
  scenario, split where two of them are more than ``INSTANCE_GAP`` apart
  (the scenarios run for minutes to hours; a customer hit twice on different
  days counts twice);
* recall: the share of the scenario's labelled transactions that raised an
  alert, and the share of its instances with at least one alert;
* detection delay: for each detected instance, event time from its first
  transaction to its first alerted transaction (median and maximum);
* alerts on the scenario's transactions, and its share of all alerts;
* overall: alert precision (alerts on transactions labelled fraud or
  suspicious / all alerts) and alerts per 1,000 transactions.

Transactions labelled ``legit`` (look-alikes such as a shopping spree, if the
simulator emits them) are reported the same way, where every alert is a
false one: there "recall" is the false-alert rate on that look-alike.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from evaluation.runs import (
    TimedRun,
    fresh_dir,
    isolated_settings,
    run_json,
    timed_monitor,
    timing_line,
)
from flows.score_sink import score_files
from riskwatch.settings import Settings
from simulator import JsonlSink, SimulationConfig, simulate_wire, write_events

INSTANCE_GAP = timedelta(hours=24)
POSITIVE = frozenset({"fraud", "suspicious"})


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    scenario: str
    label: str
    transactions: int
    alerted: int
    instances: int
    detected_instances: int
    alerts_share: float
    delay_median_minutes: float | None
    delay_max_minutes: float | None

    @property
    def recall(self) -> float:
        return self.alerted / self.transactions if self.transactions else 0.0

    @property
    def instance_recall(self) -> float:
        return self.detected_instances / self.instances if self.instances else 0.0


@dataclass(frozen=True)
class ChannelsEvaluation:
    config: SimulationConfig
    transactions: int
    alerts: int
    true_alerts: int
    scenarios: list[ScenarioResult]
    run: TimedRun
    generate_seconds: float
    workers: int
    processes: int

    @property
    def alert_precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 0.0

    @property
    def alerts_per_1000(self) -> float:
        return 1000 * self.alerts / self.transactions if self.transactions else 0.0


def evaluate_channels(
    config: SimulationConfig, base: Settings, out_dir: Path
) -> ChannelsEvaluation:
    fresh_dir(out_dir)
    started = time.perf_counter()
    txns_path, labels_path = out_dir / "transactions.jsonl", out_dir / "labels.jsonl"
    report = write_events(simulate_wire(config), JsonlSink.to_files(txns_path, labels_path))
    generate_seconds = time.perf_counter() - started
    settings = isolated_settings(base, out_dir, txns_path, labels_path)
    run = timed_monitor(settings)
    assert settings.flow.scores_path is not None
    times, alerted = _times_and_alerted(score_files(settings.flow.scores_path))
    labels = [orjson.loads(line) for line in labels_path.read_bytes().splitlines()]
    true_alerts = sum(
        1 for label in labels if label["label"] in POSITIVE and label["txn_id"] in alerted
    )
    return ChannelsEvaluation(
        config=config,
        transactions=report.transactions,
        alerts=len(alerted),
        true_alerts=true_alerts,
        scenarios=per_scenario(labels, times, alerted),
        run=run,
        generate_seconds=generate_seconds,
        workers=settings.flow.workers,
        processes=settings.flow.processes,
    )


def _times_and_alerted(paths: list[Path]) -> tuple[dict[str, datetime], set[str]]:
    """Each transaction's event time, and those on which the flow raised an alert.

    Read from the flow's score record rather than the case store, which folds
    a rule's repeats into an earlier alert: every alert *raised* counts here.
    """
    times: dict[str, datetime] = {}
    alerted: set[str] = set()
    for path in paths:
        for line in path.read_bytes().splitlines():
            record = orjson.loads(line)
            txn = record["txn_id"]
            if txn in times:
                continue
            times[txn] = datetime.fromisoformat(record["ts"])
            if record["alerted"]:
                alerted.add(txn)
    return times, alerted


def per_scenario(
    labels: list[dict[str, Any]], times: dict[str, datetime], alerted: set[str]
) -> list[ScenarioResult]:
    """Group labelled transactions into instances and measure each scenario.

    ``times`` maps txn_id to event time (a label's own ``ts`` may be delayed).
    Labels whose transaction was never scored are left out.
    """
    by_key: dict[tuple[str, str, str], list[tuple[datetime, str]]] = defaultdict(list)
    for label in labels:
        ts = times.get(label["txn_id"])
        if ts is None:
            continue
        scenario = label.get("scenario") or label["label"]
        by_key[(scenario, label["label"], label["customer_id"])].append((ts, label["txn_id"]))
    total_alerts = max(len(alerted), 1)
    grouped: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"txns": 0, "alerted": 0, "instances": 0, "detected": 0, "delays": []}
    )
    for (scenario, label, _), events in by_key.items():
        acc = grouped[(scenario, label)]
        for instance in _instances(sorted(events)):
            acc["instances"] += 1
            acc["txns"] += len(instance)
            hits = [ts for ts, txn in instance if txn in alerted]
            acc["alerted"] += len(hits)
            if hits:
                acc["detected"] += 1
                acc["delays"].append((hits[0] - instance[0][0]).total_seconds() / 60)
    results = []
    for (scenario, label), acc in sorted(grouped.items()):
        delays = acc["delays"]
        results.append(
            ScenarioResult(
                scenario=scenario,
                label=label,
                transactions=acc["txns"],
                alerted=acc["alerted"],
                instances=acc["instances"],
                detected_instances=acc["detected"],
                alerts_share=acc["alerted"] / total_alerts,
                delay_median_minutes=statistics.median(delays) if delays else None,
                delay_max_minutes=max(delays) if delays else None,
            )
        )
    return results


def _instances(events: list[tuple[datetime, str]]) -> list[list[tuple[datetime, str]]]:
    out: list[list[tuple[datetime, str]]] = []
    for event in events:
        if out and event[0] - out[-1][-1][0] <= INSTANCE_GAP:
            out[-1].append(event)
        else:
            out.append([event])
    return out


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def report_table(evaluation: ChannelsEvaluation) -> str:
    c = evaluation.config
    head = (
        f"{'scenario':<30}{'label':>11}{'txns':>8}{'recall':>8}{'instances':>10}"
        f"{'found':>7}{'delay med':>11}{'delay max':>11}{'alerts':>8}{'share':>7}"
    )
    lines = [
        f"Multi-channel evaluation: {c.customers:,} customers, {c.days} days, seed {c.seed}",
        head,
    ]
    for r in evaluation.scenarios:
        lines.append(
            f"{r.scenario:<30}{r.label:>11}{r.transactions:>8,}{r.recall:>8.1%}"
            f"{r.instances:>10,}{r.detected_instances:>7,}{_minutes(r.delay_median_minutes):>11}"
            f"{_minutes(r.delay_max_minutes):>11}{r.alerted:>8,}{r.alerts_share:>7.1%}"
        )
    lines += [
        "(recall: share of the scenario's transactions alerted; found: instances with an alert;"
        " delay: minutes of event time from an instance's first transaction to its first alert)",
        f"alerts {evaluation.alerts:,} on {evaluation.transactions:,} transactions: "
        f"{evaluation.alerts_per_1000:.2f} per 1,000; alert precision "
        f"{evaluation.alert_precision:.1%} (alerts on fraud or suspicious transactions)",
        timing_line(evaluation.run, evaluation.generate_seconds, evaluation.processes),
    ]
    return "\n".join(lines)


def report_json(evaluation: ChannelsEvaluation) -> dict[str, Any]:
    c = evaluation.config
    return {
        "mode": "channels",
        "dataset": {
            "seed": c.seed,
            "customers": c.customers,
            "days": c.days,
            "start": c.start.isoformat(),
            "transactions": evaluation.transactions,
        },
        "alerts": evaluation.alerts,
        "alert_precision": evaluation.alert_precision,
        "alerts_per_1000_transactions": evaluation.alerts_per_1000,
        "scenarios": [
            {
                "scenario": r.scenario,
                "label": r.label,
                "transactions": r.transactions,
                "alerted": r.alerted,
                "recall": r.recall,
                "instances": r.instances,
                "detected_instances": r.detected_instances,
                "instance_recall": r.instance_recall,
                "detection_delay_minutes_median": r.delay_median_minutes,
                "detection_delay_minutes_max": r.delay_max_minutes,
                "share_of_alerts": r.alerts_share,
            }
            for r in evaluation.scenarios
        ],
        "run": run_json(
            evaluation.run,
            evaluation.generate_seconds,
            evaluation.workers,
            evaluation.processes,
        ),
    }
