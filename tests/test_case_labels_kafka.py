"""Analyst labels to the Kafka labels topic on the real (tansu) broker, through
the outbox: a disposition made while Kafka is down loses no label."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest

from alerts.desk import CaseDesk
from alerts.labels import LabelTarget
from alerts.queue import QueueQuery
from riskwatch.services import free_port
from tests.casekit import StepClock, make_alert
from tests.test_integration import consume_all, create_topics

pytestmark = pytest.mark.kafka


def test_labels_wait_while_kafka_is_down_and_reach_the_topic_after(
    tmp_path: Path, kafka_brokers: str
) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    topic = f"labels-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_brokers, topic, partitions=1)
    down = LabelTarget(
        path=tmp_path / "unused.jsonl", brokers=f"127.0.0.1:{free_port()}", topic=topic
    )
    with CaseDesk.open(url, down, clock=StepClock()) as desk:
        desk.store.write_alerts([make_alert(1, "C1"), make_alert(2, "C2")])
        for case in desk.casefile.queue(QueueQuery()):
            resolution = "confirmed_fraud" if case["customer_id"] == "C1" else "false_positive"
            desk.actions.close(case["case_id"], resolution, actor="ana")

        failed = desk.outbox.flush()

        assert (failed.sent, failed.pending) == (0, 2)
        assert failed.error
        assert [row["attempts"] for row in desk.casefile.labels(1)] == [1]

    up = LabelTarget(path=tmp_path / "unused.jsonl", brokers=kafka_brokers, topic=topic)
    with CaseDesk.open(url, up, clock=StepClock()) as desk:
        sent = desk.outbox.flush()
        assert (sent.sent, sent.pending, sent.error) == (2, 0, None)
        assert desk.outbox.flush().sent == 0

    labels = [orjson.loads(v) for v in consume_all(kafka_brokers, topic, expected=2)]
    assert sorted((x["customer_id"], x["txn_id"], x["label"], x["source"]) for x in labels) == [
        ("C1", "T1", "fraud", "analyst"),
        ("C2", "T2", "legit", "analyst"),
    ]
    assert not (tmp_path / "unused.jsonl").exists()
