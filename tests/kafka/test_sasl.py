"""SASL on a private broker with a SASL_PLAINTEXT listener (never the shared one): PLAIN,
SCRAM-SHA-256 and SCRAM-SHA-512 logins from the ``kafka.sasl`` settings carry events between two
services; a wrong password fails publishing, health and readiness with a clear error; the
password is in no log line (librdkafka's debug lines included), message or repr."""

from __future__ import annotations

import logging
import secrets
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from private_kafka import PrivateKafka

from momentum import KafkaAuthenticationError, PartitionKey, Service, event_topic, topic_name
from momentum.testing import tracked

pytestmark = pytest.mark.kafka

DOMAIN = "SaslTests"
PASSWORD = "alice-" + secrets.token_hex(8)
WRONG = "wrong-" + secrets.token_hex(8)


@event_topic("logins", domain=DOMAIN)
@dataclass(frozen=True)
class LoggedIn:
    user: Annotated[str, PartitionKey()]
    mechanism: str


@pytest.fixture(scope="module")
def broker() -> Iterator[PrivateKafka]:
    private = PrivateKafka(sasl_users={"alice": PASSWORD})
    try:
        private.start()
        yield private
    finally:
        private.close()


@pytest.fixture
def environment(broker: PrivateKafka) -> str:
    """A fresh environment whose topic exists (created over the broker's PLAINTEXT listener)."""
    env = secrets.choice(string.ascii_lowercase) + secrets.token_hex(2)[:3]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for future in admin.create_topics([NewTopic(topic_name(LoggedIn, env), 2, 1)]).values():
        future.result(timeout=30)
    return env


def service(name: str, broker: PrivateKafka, environment: str, **sasl: str) -> Service:
    assert broker.sasl_bootstrap is not None
    kafka: dict[str, Any] = {
        "sasl": sasl,
        "commit_interval_seconds": 0.05,
        "consumer": {"session.timeout.ms": 10000, "heartbeat.interval.ms": 500},
        "common": {"debug": "security,broker,protocol", "reconnect.backoff.max.ms": 1000},
    }
    return Service(
        name,
        DOMAIN,
        kafka_bootstrap_servers=broker.sasl_bootstrap,
        kafka=kafka,
        environment=environment,
        database_url="memory://",
    )


def no_password_in(records: list[logging.LogRecord], *texts: str) -> None:
    for record in records:
        shown = record.getMessage() + (
            logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        )
        assert PASSWORD not in shown and WRONG not in shown, record.getMessage()
    for text in texts:
        assert PASSWORD not in text and WRONG not in text


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_a_sasl_login_carries_events_between_services(
    broker: PrivateKafka,
    environment: str,
    mechanism: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    login = {"mechanism": mechanism, "username": "alice", "password": PASSWORD}
    shop = service("shop", broker, environment, **login)
    audit = service("audit", broker, environment, **login)
    seen: list[LoggedIn] = []

    async def logged_in(event: LoggedIn) -> None:
        seen.append(event)

    audit.add_handler(logged_in)
    async with shop, audit:
        async with tracked(shop, audit, timeout=60):
            await shop.bus.publish(LoggedIn("alice", mechanism))
        report = await shop.health()
    assert seen == [LoggedIn("alice", mechanism)]
    assert report.ready and report.transport_reachable
    assert any("sasl" in r.getMessage().lower() for r in caplog.records)  # debug lines seen
    no_password_in(caplog.records, repr(shop.settings), str(shop.settings), repr(shop.transport))


async def test_a_wrong_password_fails_publish_and_health_with_a_clear_error(
    broker: PrivateKafka, environment: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    shop = service(
        "shop", broker, environment, mechanism="SCRAM-SHA-256", username="alice", password=WRONG
    )
    async with shop:
        started = time.monotonic()
        with pytest.raises(KafkaAuthenticationError) as raised:
            await shop.bus.publish(LoggedIn("alice", "SCRAM-SHA-256"))
        waited = time.monotonic() - started
        report = await shop.health()
    text = str(raised.value)
    assert text.startswith("Kafka authentication failed (SASL SCRAM-SHA-256 as 'alice')")
    assert "invalid credentials" in text
    assert waited < 20  # not librdkafka's five-minute message timeout
    assert not report.ready and report.transport_reachable is False
    assert any(p.startswith("transport: Kafka authentication failed") for p in report.problems)
    errors = [
        r for r in caplog.records if r.name == "momentum.kafka" and r.levelno == logging.ERROR
    ]
    assert len(errors) == 1 and "Kafka authentication failed" in errors[0].getMessage()
    no_password_in(caplog.records, text, repr(shop.settings), *report.problems)
