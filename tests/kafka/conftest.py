"""Fixtures of the Kafka transport tests: a unique environment (topic prefix) per test."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from momentum.kafka import KafkaConfig, TopicProvisioning

pytestmark = pytest.mark.kafka

TIMEOUT = 30.0


@pytest.fixture
def environment(kafka_bootstrap: str) -> Iterator[str]:
    """A random 4-character environment: topics `{env}.kafkatests.public.*` unique per test.

    Environments are cut to 4 characters in topic names, so the name itself is 4 characters
    (36^3 * 26 choices); the test's topics are deleted afterwards.
    """
    env = secrets.choice(string.ascii_lowercase) + "".join(
        secrets.choice(string.ascii_lowercase + string.digits) for _ in range(3)
    )
    yield env
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topics = [t for t in admin.list_topics(timeout=TIMEOUT).topics if t.startswith(f"{env}.")]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=TIMEOUT).values():
            future.result(timeout=TIMEOUT)


@pytest.fixture
def make_config(kafka_bootstrap: str) -> Callable[..., KafkaConfig]:
    """Builds a `KafkaConfig` for the test broker with provisioning on (3 partitions)."""

    def make(**overrides: Any) -> KafkaConfig:
        values: dict[str, Any] = {
            "bootstrap_servers": kafka_bootstrap,
            "provisioning": TopicProvisioning(enabled=True, partitions=3),
            "commit_interval": 0.05,
            "consumer": {"session.timeout.ms": 10000, "heartbeat.interval.ms": 500},
        }
        values.update(overrides)
        return KafkaConfig(**values)

    return make
