"""The monitor: raw records in, dead letters and scored, explained alerts out.

Run it with ``riskwatch run`` (which also starts an embedded Redis when none
is configured), or directly with Bytewax's runner against configured
services::

    python -m bytewax.run "flows.monitor:get_flow()" -w 2
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import bytewax.operators as op
import redis
from bytewax.connectors.kafka import KafkaSource
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from confluent_kafka import OFFSET_BEGINNING

from alerts.metrics import PipelineMetrics
from alerts.policy import CasePolicy
from detectors.anomaly import HalfSpaceTreesDetector
from detectors.drift import DriftWatch
from detectors.label_store import LabelStore
from detectors.learning import LearningContext
from detectors.state import CustomerStateStore
from detectors.supervised import OnlineFraudClassifier
from detectors.worker_models import ModelKeeper, WorkerModels
from flows.assess import AssessContext, Assessment, ShardAssessor
from flows.kafka import CheckedKafkaSink
from flows.operators import (
    ParseOnOwner,
    alert_message,
    dead_letter_message,
    kafka_record,
    route_by_customer,
)
from flows.score_sink import ScoreFileSink
from flows.sinks import CaseStoreSink, DeadLetterFileSink, GrafanaAnnotationSink
from flows.sources import JsonlFileSource, SimulatorSource
from riskwatch.clock import Clock, utc_now
from riskwatch.contracts import Alert, DeadLetter, Label, RawRecord, Transaction
from riskwatch.parsing import ValidationLimits
from riskwatch.settings import Settings, SettingsError, load_settings
from rules.runtime import rules_from_settings


def build_context(settings: Settings, metrics: PipelineMetrics, clock: Clock) -> AssessContext:
    if not settings.redis.url:
        msg = "no Redis configured: set REDIS_URL, or use `riskwatch run`, which starts one"
        raise SettingsError(msg)
    client = redis.Redis.from_url(settings.redis.url)
    anomaly = settings.detection.anomaly
    supervised = settings.detection.supervised

    def new_models() -> WorkerModels:
        return WorkerModels(
            HalfSpaceTreesDetector(
                anomaly.n_trees,
                anomaly.height,
                anomaly.window_size,
                anomaly.seed,
                anomaly.quantile,
                anomaly.learn_every,
                anomaly.inputs,
            ),
            OnlineFraudClassifier(
                supervised.learning_rate,
                supervised.fraud_weight,
                supervised.l2,
                supervised.min_frauds,
                supervised.min_legit,
                supervised.legit_sample_rate,
            ),
            DriftWatch(
                settings.detection.models.drift_delta,
                settings.detection.models.drift_sample_every,
            ),
        )

    learning = LearningContext(
        labels=LabelStore(
            client, settings.redis.namespace, settings.detection.labels.horizon_seconds
        ),
        keeper=ModelKeeper(
            client,
            settings.redis.namespace,
            new_models,
            settings.detection.models.snapshot_interval_seconds,
        ),
        metrics=metrics,
        release_lateness_ms=settings.detection.labels.release_lateness_seconds * 1000,
    )
    return AssessContext(
        state=CustomerStateStore(
            client,
            settings.redis.namespace,
            settings.state.dedup_horizon_seconds,
            settings.state.ttl_seconds,
            settings.state.allowed_lateness_seconds,
            settings.state.held_customers,
            settings.state.entity_buckets,
            settings.state.trip_events,
        ),
        rules=rules_from_settings(
            settings, client, lambda outcome: metrics.rule_reloads.labels(outcome=outcome).inc()
        ),
        metrics=metrics,
        timezone=ZoneInfo(settings.timezone),
        alert_threshold=settings.detection.alert_threshold,
        anomaly_weight=anomaly.weight,
        fraud_weight=supervised.weight,
        learning=learning,
        clock=clock,
        shards=settings.flow.shards,
    )


def _read(
    flow: Dataflow,
    settings: Settings,
    metrics: PipelineMetrics,
    given: Source[RawRecord] | None,
) -> Stream[RawRecord]:
    if given is not None:
        return op.input("given_in", flow, given)
    source = settings.input_source
    if source == "kafka":
        if not settings.kafka.brokers:
            raise SettingsError("input source kafka needs kafka.brokers (KAFKA_BROKERS)")
        # Consumer errors stop the run (see flows/kafka.py); each partition's
        # offset is Bytewax's to snapshot and resume from.
        return _kafka_records(flow, "kafka", settings.kafka.transactions_topic, settings, metrics)
    if source == "file":
        if not settings.input.paths:
            raise SettingsError("input source file needs input.paths (--input PATH)")
        file_source = JsonlFileSource(settings.input.paths, metrics, settings.flow.batch_size)
        return op.input("file_in", flow, file_source)
    sim = settings.simulator
    simulator = SimulatorSource(
        sim.customers, sim.days, sim.seed, sim.start, metrics, settings.flow.batch_size
    )
    return op.input("simulator_in", flow, simulator)


def _kafka_records(
    flow: Dataflow, step: str, topic: str, settings: Settings, metrics: PipelineMetrics
) -> Stream[RawRecord]:
    """One topic as raw records; each partition's offset is Bytewax's to snapshot."""
    kafka_source = KafkaSource(
        settings.kafka.brokers.split(","),
        [topic],
        tail=settings.kafka.tail,
        starting_offset=OFFSET_BEGINNING,
        add_config=settings.kafka.client_config(),
        batch_size=settings.flow.batch_size,
        raise_on_errors=True,
    )
    messages = op.input(f"{step}_in", flow, kafka_source)
    return op.map(f"{step}_records", messages, kafka_record(metrics))


def _read_labels(
    flow: Dataflow, settings: Settings, metrics: PipelineMetrics
) -> Stream[RawRecord] | None:
    """The labels input: the Kafka labels topic with Kafka input, else label files, else none."""
    if settings.input_source == "kafka" and settings.kafka.brokers:
        return _kafka_records(flow, "labels_kafka", settings.kafka.labels_topic, settings, metrics)
    if settings.input.label_paths:
        files = JsonlFileSource(settings.input.label_paths, metrics, settings.flow.batch_size)
        return op.input("labels_file_in", flow, files)
    return None


def get_flow(
    settings: Settings | None = None,
    metrics: PipelineMetrics | None = None,
    clock: Clock = utc_now,
    source: Source[RawRecord] | None = None,
) -> Dataflow:
    """Build the monitor dataflow from the settings (read from config/env when omitted).

    ``source`` replaces the configured input, for tests that feed records directly.
    """
    settings = settings or load_settings()
    metrics = metrics or PipelineMetrics()
    context = build_context(settings, metrics, clock)
    limits = ValidationLimits(
        max_id_length=settings.validation.max_id_length,
        max_future=timedelta(seconds=settings.validation.max_future_seconds),
        max_amount=Decimal(settings.validation.max_amount),
    )
    shards = settings.flow.shards
    kafka = settings.kafka

    flow = Dataflow("riskwatch_monitor")
    raw = _read(flow, settings, metrics, source)
    # raw: RawRecord (bytes + source, partition, offset)
    routed = op.map("route", raw, route_by_customer("txn", shards))
    raw_labels = _read_labels(flow, settings, metrics)
    if raw_labels is not None:
        routed_labels = op.map("route_labels", raw_labels, route_by_customer("label", shards))
        routed = op.merge("txns_and_labels", routed, routed_labels)
    # routed: (shard, RoutedRecord), a customer's records in order, still unparsed:
    # they cross to the worker that owns the shard as bytes, and are parsed there.
    parsed = op.stateful_batch("parse", routed, lambda _: ParseOnOwner(limits, clock))
    # parsed: (shard, Transaction | Label | DeadLetter)
    split = op.branch("dead_or_alive", parsed, _not_dead)
    dead = op.key_rm("dead_unkey", split.falses)  # type: ignore[arg-type]
    # dead: DeadLetter with its reason
    keyed: Stream[tuple[str, Transaction | Label]] = split.trues  # type: ignore[assignment]
    # keyed: (shard, Transaction | Label), labels beside their customer's transactions
    assessed = op.stateful_batch("assess", keyed, lambda resume: ShardAssessor(context, resume))
    # assessed: (shard, Assessment)
    assessments = op.key_rm("unkey", assessed)
    alerts = op.filter_map("alerts", assessments, _alert_of)
    # alerts: Alert, at or above the alert threshold
    if settings.flow.scores_path is not None:
        op.output("scores", assessments, ScoreFileSink(settings.flow.scores_path))
    policy = CasePolicy.from_settings(settings)
    op.output("case_store", alerts, CaseStoreSink(settings.database_url, metrics, policy))
    if settings.grafana.url:
        op.output("grafana", alerts, GrafanaAnnotationSink(settings.grafana, metrics))
    if kafka.brokers:
        config = kafka.client_config()
        alerts_out = CheckedKafkaSink(kafka.brokers, kafka.alerts_topic, alert_message, config)
        op.output("alerts_out", alerts, alerts_out)
        dead_out = CheckedKafkaSink(
            kafka.brokers,
            kafka.dead_letter_topic,
            dead_letter_message,
            config,
            on_delivered=_count_dead_letters(metrics),
        )
        op.output("dead_letters_out", dead, dead_out)
    else:
        op.output("dead_letters", dead, DeadLetterFileSink(settings.dead_letter_path, metrics))
    return flow


def _not_dead(item: tuple[str, Transaction | Label | DeadLetter]) -> bool:
    return not isinstance(item[1], DeadLetter)


def _alert_of(assessment: Assessment) -> Alert | None:
    return assessment.alert


def _count_dead_letters(metrics: PipelineMetrics) -> Callable[[list[DeadLetter]], None]:
    def count(letters: list[DeadLetter]) -> None:
        for letter in letters:
            metrics.dead_letters.labels(reason=letter.reason).inc()

    return count
