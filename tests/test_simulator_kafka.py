"""The simulator's Kafka sink against a real broker: a topic per channel, labels apart."""

from __future__ import annotations

import uuid
from collections import Counter

import orjson

from riskwatch.contracts import CHANNELS
from simulator import SCENARIOS, KafkaSink, SimulationConfig, simulate_wire, write_events
from tests.test_integration import consume_all, create_topics

CONFIG = SimulationConfig(seed=12, customers=40, days=2, rates={name: 0.02 for name in SCENARIOS})


def test_topic_per_channel_with_labels_apart(kafka_brokers: str) -> None:
    base = f"sim-{uuid.uuid4().hex[:8]}"
    labels_topic = f"{base}-labels"
    create_topics(kafka_brokers, labels_topic, *(f"{base}.{c}" for c in CHANNELS), partitions=2)
    events = list(simulate_wire(CONFIG))
    sink = KafkaSink(kafka_brokers, base, labels_topic, per_channel=True)
    report = write_events(events, sink)
    assert report.transactions == len(events) and report.labels > 0

    per_channel = Counter(e.channel for e in events)
    for channel in CHANNELS:
        got = consume_all(kafka_brokers, f"{base}.{channel}", per_channel[channel])
        assert len(got) == per_channel[channel]
        assert {orjson.loads(v)["channel"] for v in got} <= {channel}
    labels = consume_all(kafka_brokers, labels_topic, report.labels)
    assert sorted(labels) == sorted(e.label for e in events if e.label is not None)
