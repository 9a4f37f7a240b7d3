"""Prometheus metrics of the monitor, on a registry the caller owns.

The registry is created at the edge (CLI or test) and passed down, never a
module global, so two flows in one process (tests) keep separate counts. The
counts are also what ``riskwatch demo`` and ``riskwatch run`` summarise:
``records_read == records_processed + labels_received + dead_letters`` once
a run is done.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


def _total(counter: Counter) -> float:
    """The sum of a counter over all its label values."""
    return sum(
        sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


@dataclass
class PipelineMetrics:
    """The monitor's counters; every name starts with ``riskwatch_``."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.records_read = Counter(
            "riskwatch_records_read", "Records read from a source", ["source"], registry=r
        )
        self.records_processed = Counter(
            "riskwatch_records_processed",
            "Valid transactions assessed (duplicates included)",
            registry=r,
        )
        self.duplicates = Counter(
            "riskwatch_duplicates",
            "Transactions whose txn_id was already seen; state left unchanged",
            registry=r,
        )
        self.late_events = Counter(
            "riskwatch_late_events",
            "Transactions later than the allowed lateness; assessed on the windows that remain",
            registry=r,
        )
        self.dead_letters = Counter(
            "riskwatch_dead_letters", "Records dead-lettered, by reason", ["reason"], registry=r
        )
        self.rule_outcomes = Counter(
            "riskwatch_rule_outcomes",
            "Rule evaluations by rule, mode and outcome (hit, no_hit, error, suppressed)",
            ["rule", "mode", "outcome"],
            registry=r,
        )
        self.rule_reloads = Counter(
            "riskwatch_rule_reloads",
            "Hot reloads of the rule packs, by outcome (ok, failed: the old packs stay)",
            ["outcome"],
            registry=r,
        )
        self.alerts = Counter(
            "riskwatch_alerts",
            "Alerts written to the case store, by severity",
            ["severity"],
            registry=r,
        )
        self.anomaly_threshold = Gauge(
            "riskwatch_anomaly_threshold",
            "Running anomaly-score threshold per shard",
            ["shard"],
            registry=r,
        )
        self.labels_received = Counter(
            "riskwatch_labels_received",
            "Valid labels taken in by the assess step (held until event time passes them)",
            registry=r,
        )
        self.labels_released = Counter(
            "riskwatch_labels_released",
            "Labels released to the models once the event-time watermark passed them, by match",
            ["matched"],
            registry=r,
        )
        self.examples_learned = Counter(
            "riskwatch_examples_learned",
            "Labelled examples the classifier learned, by class (legit includes implicit ones)",
            ["label"],
            registry=r,
        )
        self.drift_detected = Counter(
            "riskwatch_drift_detected",
            "ADWIN drift detections on a watched feature or score",
            ["signal"],
            registry=r,
        )
        self.drift_mean = Gauge(
            "riskwatch_drift_window_mean",
            "Mean of a watched feature or score over ADWIN's current window",
            ["signal"],
            registry=r,
        )
        self.grafana_annotations = Counter(
            "riskwatch_grafana_annotations",
            "Alert annotations posted to Grafana, by outcome (sent, failed: best effort)",
            ["outcome"],
            registry=r,
        )
        self.model_snapshots = Counter(
            "riskwatch_model_snapshots", "Worker model snapshots written to Redis", registry=r
        )
        self.batch_seconds = Histogram(
            "riskwatch_assess_batch_seconds",
            "Time to assess one batch (state round trip, features, rules, models)",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
            registry=r,
        )

    def totals(self) -> dict[str, float]:
        """Run totals for summaries and tests."""
        return {
            "read": _total(self.records_read),
            "processed": _total(self.records_processed),
            "duplicates": _total(self.duplicates),
            "dead_lettered": _total(self.dead_letters),
            "labels": _total(self.labels_received),
            "alerts": _total(self.alerts),
        }

    def dead_letters_by_reason(self) -> dict[str, float]:
        return {
            sample.labels["reason"]: sample.value
            for metric in self.dead_letters.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        }
