"""Shared fixtures: the real services started by `scripts/services up`, and unique names."""

from __future__ import annotations

import os
import re
import socket
import uuid

import pytest

# Services built by tests run without a message store unless a test gives one (tests of the
# store wire their own SQLite files and PostgreSQL schemas); no momentum.db in the checkout.
os.environ.setdefault("MOMENTUM_DATABASE_URL", "memory://")

DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
START_HINT = "start the test services with `scripts/services up` (check: `scripts/services status`)"


def _tcp_error(address: str, default_port: int) -> str | None:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port or default_port)), timeout=3):
            return None
    except OSError as error:
        return f"{type(error).__name__}: {error}"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap servers of the test broker (MOMENTUM_TEST_KAFKA_BOOTSTRAP); fails when down."""
    bootstrap = os.environ.get("MOMENTUM_TEST_KAFKA_BOOTSTRAP", DEFAULT_KAFKA_BOOTSTRAP)
    first = bootstrap.split(",")[0]
    error = _tcp_error(first, 9092)
    if error is None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        try:
            metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=15)
            if not metadata.brokers:
                error = "metadata lists no broker"
        except KafkaException as exc:
            error = f"metadata request failed: {exc}"
    if error is not None:
        pytest.fail(f"Kafka is not reachable at {bootstrap} ({error}); {START_HINT}", pytrace=False)
    return bootstrap


@pytest.fixture(scope="session")
def database_url() -> str:
    """URL of the test PostgreSQL (MOMENTUM_TEST_DATABASE_URL); fails when down."""
    url = os.environ.get("MOMENTUM_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    import psycopg

    reason = None
    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if reason is not None:  # outside `except`: no chained traceback in the report
        pytest.fail(f"PostgreSQL is not reachable at {url} ({reason}); {START_HINT}", pytrace=False)
    return url


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name unique to this test run: lower-case letters, digits and `_`, at most 45 characters.

    Legal as a Kafka topic, consumer group and unquoted PostgreSQL identifier; starts with a
    letter. Safe under pytest-xdist (random, not a counter).
    """
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:30].rstrip("_")
    return f"t_{slug}_{uuid.uuid4().hex[:12]}"
