"""Secrets in the settings are masked wherever the settings are shown, and reach the drivers.

Masked: the password of ``database_url``, and in ``kafka.common`` / ``producer`` /
``consumer`` every property whose name contains ``password``, ``secret`` or ``token`` (and
``ssl.key.pem``, ``sasl.oauthbearer.config``), also when written with underscores as the
environment gives them. Shown: repr, str, log lines, ``model_dump``, ``model_dump_json``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from momentum import MomentumSettings, Service
from momentum.settings import KafkaSettings

DATABASE_PASSWORD = "s3cret-db-pw"
URL = f"postgresql://ops:{DATABASE_PASSWORD}@127.0.0.1:5432/orders"
PEM = "-----BEGIN PRIVATE KEY-----abc"
NOT_SECRET = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512"}
SECRETS = [
    DATABASE_PASSWORD,
    "hunter2-sasl",
    "keystore-pw",
    "oauth-secret",
    "BEGIN PRIVATE KEY",
]


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MomentumSettings:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MOMENTUM_DATABASE_URL", URL)
    return MomentumSettings(
        kafka=KafkaSettings(
            common={**NOT_SECRET, "sasl.password": "hunter2-sasl"},
            producer={"ssl.key.password": "keystore-pw", "ssl_key_pem": PEM},
            consumer={"sasl_oauthbearer_client_secret": "oauth-secret"},
        )
    )


def _shown(settings: MomentumSettings) -> dict[str, str]:
    return {
        "repr": repr(settings),
        "str": str(settings),
        "format": f"{settings}",
        "kafka repr": repr(settings.kafka),
        "kafka str": str(settings.kafka),
        "model_dump": repr(settings.model_dump()),
        "model_dump json mode": json.dumps(settings.model_dump(mode="json")),
        "model_dump_json": settings.model_dump_json(),
        "kafka model_dump": repr(settings.kafka.model_dump()),
        "kafka model_dump_json": settings.kafka.model_dump_json(),
    }


def test_secrets_are_masked_wherever_the_settings_are_shown(settings: MomentumSettings) -> None:
    for how, text in _shown(settings).items():
        leaked = [secret for secret in SECRETS if secret in text]
        assert leaked == [], f"{how} shows {leaked}: {text}"
        assert "ops:***@127.0.0.1:5432/orders" in text or how.startswith("kafka"), how
        assert "SASL_SSL" in text and "SCRAM-SHA-512" in text, how  # the rest is shown
        assert "<redacted>" in text, how


def test_the_dump_keeps_its_shape_with_the_secrets_replaced(settings: MomentumSettings) -> None:
    dumped = json.loads(settings.model_dump_json())
    assert dumped["database_url"] == "postgresql://ops:***@127.0.0.1:5432/orders"
    assert dumped["kafka"]["common"] == {**NOT_SECRET, "sasl.password": "<redacted>"}
    assert dumped["kafka"]["consumer"] == {"sasl_oauthbearer_client_secret": "<redacted>"}
    assert dumped["kafka"]["partitions"] == 3 and dumped["environment"] == "development"


def test_log_lines_show_the_settings_masked(
    settings: MomentumSettings, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("momentum.tests.settings")
    with caplog.at_level(logging.INFO, logger=log.name):
        log.info("settings %s", settings)
        log.info("settings %r", settings)
        log.info("kafka %s, dump %s", settings.kafka, settings.model_dump())
    assert len(caplog.records) == 3
    assert [s for s in SECRETS if s in caplog.text] == []
    assert "ops:***@" in caplog.text


def test_the_real_values_reach_the_drivers(settings: MomentumSettings) -> None:
    from momentum.kafka import KafkaTransport
    from momentum.postgres import PostgresStore

    assert settings.database_url == URL
    assert settings.kafka.common["sasl.password"] == "hunter2-sasl"
    service = Service(
        "svc",
        "Shop",
        settings=settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:9092"}),
    )
    assert isinstance(service.transport, KafkaTransport)
    config = service.transport.config
    assert config.client_config()["sasl.password"] == "hunter2-sasl"
    assert config.producer_config()["ssl.key.password"] == "keystore-pw"
    assert config.producer_config()["ssl.key.pem"] == PEM
    assert config.consumer_config("g")["sasl.oauthbearer.client.secret"] == "oauth-secret"
    assert isinstance(service.store, PostgresStore)  # tests/durable: the password reaches psycopg


def test_secrets_from_the_environment_are_masked_and_passed_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MOMENTUM_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    monkeypatch.setenv("MOMENTUM_KAFKA__COMMON__SASL_PASSWORD", "hunter2-env")
    monkeypatch.setenv("MOMENTUM_KAFKA__CONSUMER__SASL_OAUTHBEARER_TOKEN", "token-env")
    monkeypatch.setenv("MOMENTUM_DATABASE_URL", "memory://")
    service = Service("svc", "Shop")
    settings = service.settings
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "hunter2-env" not in text and "token-env" not in text
    config = service.transport.config  # type: ignore[union-attr]
    assert config.client_config()["sasl.password"] == "hunter2-env"
    assert config.consumer_config("g")["sasl.oauthbearer.token"] == "token-env"
