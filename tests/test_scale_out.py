"""Scale out as the README says: two Bytewax processes over a partitioned Kafka topic.

Both processes run ``python -m bytewax.run "flows.monitor:get_flow()"`` with
the same settings from the environment; the alerts and the customer state
they leave must be exactly those of one process reading the same topic.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from riskwatch.services import free_port
from simulator import KafkaSink, simulate, write_events
from tests.flowkit import alert_scores, redis_state
from tests.test_integration import CONFIG, create_topics


def run_processes(count: int, env: dict[str, str], cwd: Path) -> None:
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(count)]
    argv = [sys.executable, "-m", "bytewax.run", "flows.monitor:get_flow()"]
    if count > 1:
        argv += ["-a", ";".join(addresses)]
    procs = [
        subprocess.Popen(
            [*argv, *(["-i", str(i)] if count > 1 else [])],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for i in range(count)
    ]
    outputs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            outputs.append(out.decode(errors="replace"))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                out, _ = proc.communicate()
                outputs.append(out.decode(errors="replace"))
    for proc, out in zip(procs, outputs, strict=False):
        assert proc.returncode == 0, out[-3000:]


@pytest.mark.kafka
def test_two_processes_give_the_alerts_and_state_of_one(
    tmp_path: Path, redis_url: str, key_prefix: str, kafka_brokers: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic = f"txns-{suffix}"
    create_topics(kafka_brokers, topic, f"labels-{suffix}", partitions=4)
    write_events(simulate(CONFIG), KafkaSink(kafka_brokers, topic, f"labels-{suffix}"))

    results = []
    for count in (1, 2):
        run_dir = tmp_path / f"p{count}"
        run_dir.mkdir()
        namespace = f"{key_prefix}p{count}"
        database_url = f"sqlite:///{run_dir / 'cases.db'}"
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "KAFKA_BROKERS": kafka_brokers,
            "RISKWATCH_KAFKA__TAIL": "false",
            "RISKWATCH_KAFKA__TRANSACTIONS_TOPIC": topic,
            "RISKWATCH_KAFKA__ALERTS_TOPIC": f"alerts-{suffix}-{count}",
            "RISKWATCH_KAFKA__DEAD_LETTER_TOPIC": f"dead-{suffix}-{count}",
            "RISKWATCH_REDIS__NAMESPACE": namespace,
            "RISKWATCH_DATA_DIR": str(run_dir),
            # The models are one set per worker process (shared by its shards),
            # so their scores depend on how shards are spread over processes, by
            # design; the fused score is compared on the rules alone.
            "RISKWATCH_DETECTION__ANOMALY__WEIGHT": "0",
            "RISKWATCH_DETECTION__SUPERVISED__WEIGHT": "0",
        }
        run_processes(count, env, run_dir)
        state = redis_state(redis_url, namespace)
        # The label join's queues ({ml}) drain as each shard's watermark moves,
        # batch by batch, so what is still queued at the end depends on the
        # batches; the customer state must not.
        customers = {k: v for k, v in state.items() if not k.startswith("{ml}")}
        results.append((alert_scores(database_url), customers))

    (one_alerts, one_state), (two_alerts, two_state) = results
    assert one_alerts, "the injected fraud alerts"
    assert two_alerts == one_alerts
    assert two_state == one_state
