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
from detectors.state import CustomerStateStore
from flows.assess import AssessContext, Assessment, ShardAssessor, shard_of
from flows.kafka import CheckedKafkaSink
from flows.operators import (
    alert_message,
    dead_letter_message,
    kafka_record,
    parse_records,
)
from flows.score_sink import ScoreFileSink
from flows.sinks import CaseStoreSink, DeadLetterFileSink
from flows.sources import JsonlFileSource, SimulatorSource
from riskwatch.clock import Clock, utc_now
from riskwatch.contracts import Alert, DeadLetter, RawRecord
from riskwatch.parsing import ValidationLimits
from riskwatch.settings import Settings, SettingsError, load_settings
from rules.runtime import rules_from_settings


def build_context(settings: Settings, metrics: PipelineMetrics, clock: Clock) -> AssessContext:
    if not settings.redis.url:
        msg = "no Redis configured: set REDIS_URL, or use `riskwatch run`, which starts one"
        raise SettingsError(msg)
    client = redis.Redis.from_url(settings.redis.url)
    anomaly = settings.detection.anomaly
    return AssessContext(
        state=CustomerStateStore(
            client,
            settings.redis.namespace,
            settings.state.dedup_horizon_seconds,
            settings.state.ttl_seconds,
            settings.state.allowed_lateness_seconds,
        ),
        rules=rules_from_settings(
            settings, client, lambda outcome: metrics.rule_reloads.labels(outcome=outcome).inc()
        ),
        metrics=metrics,
        timezone=ZoneInfo(settings.timezone),
        alert_threshold=settings.detection.alert_threshold,
        anomaly_weight=anomaly.weight,
        new_detector=lambda: HalfSpaceTreesDetector(
            anomaly.n_trees, anomaly.height, anomaly.window_size, anomaly.seed, anomaly.quantile
        ),
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
        kafka_source = KafkaSource(
            settings.kafka.brokers.split(","),
            [settings.kafka.transactions_topic],
            tail=settings.kafka.tail,
            starting_offset=OFFSET_BEGINNING,
            add_config=settings.kafka.client_config(),
            batch_size=settings.flow.batch_size,
            raise_on_errors=True,
        )
        messages = op.input("kafka_in", flow, kafka_source)
        return op.map("kafka_records", messages, kafka_record(metrics))
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
    parsed = parse_records("parse", raw, limits, clock)
    # parsed.oks: Transaction; parsed.errs: DeadLetter with its reason
    dead = parsed.errs
    keyed = op.key_on("by_shard", parsed.oks, lambda txn: shard_of(txn.customer_id, shards))
    # keyed: (shard, Transaction), a customer's transactions in order on one worker
    assessed = op.stateful_batch("assess", keyed, lambda resume: ShardAssessor(context, resume))
    # assessed: (shard, Assessment)
    assessments = op.key_rm("unkey", assessed)
    alerts = op.filter_map("alerts", assessments, _alert_of)
    # alerts: Alert, at or above the alert threshold
    if settings.flow.scores_path is not None:
        op.output("scores", assessments, ScoreFileSink(settings.flow.scores_path))
    policy = CasePolicy.from_settings(settings)
    op.output("case_store", alerts, CaseStoreSink(settings.database_url, metrics, policy))
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


def _alert_of(assessment: Assessment) -> Alert | None:
    return assessment.alert


def _count_dead_letters(metrics: PipelineMetrics) -> Callable[[list[DeadLetter]], None]:
    def count(letters: list[DeadLetter]) -> None:
        for letter in letters:
            metrics.dead_letters.labels(reason=letter.reason).inc()

    return count
