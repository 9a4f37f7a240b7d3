"""Simulated traffic through the whole pipeline: Kafka in, and the same from a JSONL file.

The Kafka path starts a real Kafka-protocol broker (tansu) and a real Redis
from the session fixtures, produces the simulator's traffic with
confluent-kafka, runs the monitor until the topic is drained, and checks that
the injected fraud produced alerts and cases, that every record is accounted
for, and that the alerts and dead letters reached their topics.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from alerts.store import CaseStore
from riskwatch.runner import run_monitor
from simulator import SCENARIOS, JsonlSink, KafkaSink, SimulationConfig, simulate, write_events
from tests.flowkit import BAD_RECORDS, settings_for_test

# Fraud at about 10 episodes per scenario over 1,050 customer-days.
# Only these three: the simulator's other scenarios have their own tests.
RATES = {name: 0.0 for name in SCENARIOS} | {
    "stolen_card_spree": 0.01,
    "account_takeover": 0.01,
    "card_testing": 0.01,
}
CONFIG = SimulationConfig(
    seed=11, customers=150, days=7, start=datetime(2026, 1, 5, tzinfo=UTC), rates=RATES
)


def fraud_by_customer() -> dict[str, set[str]]:
    """The customers the simulator defrauded, with the scenarios used on each."""
    out: dict[str, set[str]] = {}
    for event in simulate(CONFIG):
        if event.label is not None and event.label.label == "fraud":
            out.setdefault(event.txn.customer_id, set()).add(event.label.scenario or "")
    return out


def create_topics(brokers: str, *names: str, partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": brokers})
    futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    for future in futures.values():
        future.result(timeout=30)


def consume_all(brokers: str, topic: str, expected: int, timeout: float = 30.0) -> list[bytes]:
    """Read a topic from the start; partitions are assigned, no group to join."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            values.append(msg.value())
    finally:
        consumer.close()
    return values


def assert_fraud_alerted(settings, defrauded: dict[str, set[str]]) -> dict[str, int]:
    store = CaseStore(settings.database_url)
    try:
        alerts = store.list_alerts(limit=None)
        cases = store.list_cases(limit=None)
    finally:
        store.close()
    alerted_customers = {a["customer_id"] for a in alerts}
    caught = {c for c in defrauded if c in alerted_customers}
    assert len(caught) >= 0.8 * len(defrauded), (
        f"only {len(caught)} of {len(defrauded)} defrauded customers were alerted"
    )
    scenarios = {s for c in caught for s in defrauded[c]}
    assert len(scenarios) >= 2, f"alerts cover only the scenarios {scenarios}"
    assert {c["customer_id"] for c in cases} == alerted_customers, "one case per alerted customer"
    return {"alerts": len(alerts), "cases": len(cases)}


@pytest.mark.kafka
def test_simulated_traffic_from_kafka_raises_alerts_and_accounts_for_every_record(
    tmp_path: Path, redis_url: str, key_prefix: str, kafka_brokers: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    topics = {
        "transactions_topic": f"txns-{suffix}",
        "labels_topic": f"labels-{suffix}",
        "alerts_topic": f"alerts-{suffix}",
        "dead_letter_topic": f"dead-{suffix}",
    }
    create_topics(kafka_brokers, *topics.values())
    produced = write_events(
        simulate(CONFIG),
        KafkaSink(kafka_brokers, topics["transactions_topic"], topics["labels_topic"]),
    )
    # Bad records arrive on the same topic, between the good ones.
    producer = Producer({"bootstrap.servers": kafka_brokers})
    for payload, _ in BAD_RECORDS:
        producer.produce(topics["transactions_topic"], key=b"C900", value=payload)
    assert producer.flush(30) == 0

    settings = settings_for_test(
        tmp_path,
        redis_url,
        key_prefix,
        kafka={"brokers": kafka_brokers, "tail": False, **topics},
        input={"source": "kafka", "paths": []},
    )
    summary = run_monitor(settings)

    transactions = produced.transactions
    # The labels topic is read too: the simulator's delayed labels feed the models.
    assert summary.read == transactions + produced.labels + len(BAD_RECORDS)
    assert summary.processed == transactions
    assert summary.labels == produced.labels > 0
    assert summary.dead_lettered == len(BAD_RECORDS)
    assert summary.balanced
    counts = assert_fraud_alerted(settings, fraud_by_customer())
    assert summary.alerts_in_store == counts["alerts"]
    # Every alert raised reaches the topic; the case store folds a rule's repeats.
    assert summary.alerts_in_store + summary.alerts_folded == summary.alerts

    alert_values = consume_all(kafka_brokers, topics["alerts_topic"], summary.alerts)
    assert len(alert_values) == summary.alerts
    assert all(orjson.loads(v)["rules"] or orjson.loads(v)["models"] for v in alert_values)
    dead_values = consume_all(kafka_brokers, topics["dead_letter_topic"], len(BAD_RECORDS))
    reasons = sorted(orjson.loads(v)["reason"] for v in dead_values)
    assert reasons == sorted(reason for _, reason in BAD_RECORDS)


def test_simulated_traffic_from_a_jsonl_file_without_kafka(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    stream = tmp_path / "transactions.jsonl"
    labels = tmp_path / "labels.jsonl"
    written = write_events(simulate(CONFIG), JsonlSink.to_files(stream, labels))
    settings = settings_for_test(
        tmp_path, redis_url, key_prefix, input={"source": "file", "paths": [stream]}
    )
    summary = run_monitor(settings)

    assert summary.read == written.transactions
    assert summary.processed == written.transactions
    assert summary.dead_lettered == 0
    assert summary.balanced
    counts = assert_fraud_alerted(settings, fraud_by_customer())
    assert summary.alerts_in_store == counts["alerts"]
    assert not settings.dead_letter_path.exists() or settings.dead_letter_path.stat().st_size == 0


def test_an_unacknowledged_kafka_write_stops_the_run_instead_of_losing_it() -> None:
    from flows.kafka import CheckedKafkaSink, KafkaDeliveryFailed
    from riskwatch.services import free_port

    delivered: list[list[str]] = []
    sink = CheckedKafkaSink(
        f"127.0.0.1:{free_port()}",  # nothing listens here
        "alerts",
        lambda item: (None, item.encode()),
        {"message.timeout.ms": "1500"},
        on_delivered=delivered.append,
        flush_timeout=5,
    )
    partition = sink.build("alerts_out", 0, 1)
    with pytest.raises(KafkaDeliveryFailed, match=r"of 2 messages to 'alerts'"):
        partition.write_batch(["a", "b"])
    assert delivered == [], "nothing is counted that Kafka did not acknowledge"


@pytest.mark.kafka
def test_a_tombstone_on_the_topic_is_dead_lettered_not_lost(
    tmp_path: Path, redis_url: str, key_prefix: str, kafka_brokers: str
) -> None:
    topic = f"txns-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_brokers, topic, partitions=1)
    producer = Producer({"bootstrap.servers": kafka_brokers})
    producer.produce(topic, key=b"C1", value=None)
    assert producer.flush(30) == 0
    settings = settings_for_test(
        tmp_path,
        redis_url,
        key_prefix,
        kafka={"brokers": kafka_brokers, "tail": False, "transactions_topic": topic,
               "dead_letter_topic": f"{topic}-dead", "alerts_topic": f"{topic}-alerts"},
        input={"source": "kafka", "paths": []},
    )  # fmt: skip
    create_topics(kafka_brokers, f"{topic}-dead", f"{topic}-alerts", partitions=1)
    summary = run_monitor(settings)
    assert summary.read == summary.dead_lettered == 1
    assert summary.dead_letters_by_reason == {"empty_record": 1}


def test_the_demo_traffic_passes_validation_entirely() -> None:
    """The simulator's output is valid input: the demo dead-letters nothing."""
    from riskwatch.parsing import InvalidRecord, ValidationLimits, parse_transaction
    from riskwatch.settings import load_settings

    sim = load_settings().simulator
    config = SimulationConfig(
        seed=sim.seed, customers=sim.customers, days=sim.days, start=sim.start
    )
    now = datetime.now(UTC)
    rejected: dict[str, str] = {}
    for event in simulate(config):
        payload = orjson.dumps(event.txn.to_json_dict())
        try:
            parse_transaction(payload, now, ValidationLimits())
        except InvalidRecord as exc:
            rejected.setdefault(exc.reason, f"{event.txn.txn_id}: {exc}")
    assert rejected == {}
