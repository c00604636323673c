"""The ``security`` (signing keys), ``kafka.sasl`` / ``kafka.tls`` and tenancy settings: read
from the environment, handed to the Kafka client, never shown."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from momentum import ConfigurationError, MomentumSettings, Service
from momentum.testing import InMemoryBroker
from momentum.wiring import kafka_config

SIGNING_KEY = "signing-key-0123456789abcdef-new"
OLD_KEY = "verify-key-0123456789abcdef-old"
SASL_PASSWORD = "sasl-pw-0123456789"
KEY_PASSWORD = "tls-key-pw-0123456789"
SECRETS = (SIGNING_KEY, OLD_KEY, SASL_PASSWORD, KEY_PASSWORD)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MOMENTUM_DATABASE_URL", "memory://")
    monkeypatch.setenv("MOMENTUM_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    return monkeypatch


def shown(settings: MomentumSettings) -> list[str]:
    return [
        repr(settings),
        str(settings),
        repr(settings.model_dump()),
        settings.model_dump_json(),
        json.dumps(settings.model_dump(mode="json")),
    ]


def test_signing_keys_come_from_the_environment_and_are_never_shown(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env.setenv("MOMENTUM_SECURITY__SIGNING_KEY_ID", "k2")
    env.setenv("MOMENTUM_SECURITY__SIGNING_KEY", SIGNING_KEY)
    env.setenv("MOMENTUM_SECURITY__VERIFICATION_KEYS", json.dumps({"k1": OLD_KEY}))
    env.setenv("MOMENTUM_SECURITY__REQUIRE_SIGNATURES", "true")
    service = Service("shop", "Shop")
    signer = service.transport.signer  # type: ignore[union-attr]
    assert signer is not None and signer.signing_key_id == "k2"
    assert signer.key_ids == ["k1", "k2"] and signer.required
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"/s")]
    signer.sign(b"{}", headers)
    signer.verify(b"{}", headers)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("momentum.tests").info("settings %s %r", service.settings, service)
    for text in [*shown(service.settings), repr(service.transport.config), caplog.text]:  # type: ignore[union-attr]
        assert not [s for s in SECRETS if s in text], text


def test_sasl_and_tls_settings_become_the_clients_security_properties(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("MOMENTUM_KAFKA__SASL__MECHANISM", "SCRAM-SHA-512")
    env.setenv("MOMENTUM_KAFKA__SASL__USERNAME", "alice")
    env.setenv("MOMENTUM_KAFKA__SASL__PASSWORD", SASL_PASSWORD)
    env.setenv("MOMENTUM_KAFKA__TLS__CA_LOCATION", "/etc/ssl/ca.pem")
    env.setenv("MOMENTUM_KAFKA__TLS__KEY_PASSWORD", KEY_PASSWORD)
    settings = MomentumSettings()
    config = kafka_config(settings, "shop")
    assert {
        k: v for k, v in config.client_config().items() if k.startswith(("sasl", "ssl", "sec"))
    } == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": SASL_PASSWORD,
        "ssl.ca.location": "/etc/ssl/ca.pem",
        "ssl.key.password": KEY_PASSWORD,
        "ssl.endpoint.identification.algorithm": "https",
    }
    for text in [*shown(settings), repr(config)]:
        assert SASL_PASSWORD not in text and KEY_PASSWORD not in text, text
    assert "alice" in repr(settings) and "SCRAM-SHA-512" in repr(settings)


def test_sasl_without_tls_is_sasl_plaintext_and_tls_alone_is_ssl(env: pytest.MonkeyPatch) -> None:
    sasl = {"mechanism": "PLAIN", "username": "u", "password": "p"}
    plain = kafka_config(MomentumSettings(kafka={"sasl": sasl}), "shop")
    assert plain.client_config()["security.protocol"] == "SASL_PLAINTEXT"
    tls = kafka_config(MomentumSettings(kafka={"tls": {"verify_hostname": False}}), "shop")
    assert tls.client_config()["security.protocol"] == "SSL"
    assert tls.client_config()["ssl.endpoint.identification.algorithm"] == "none"
    off = kafka_config(MomentumSettings(kafka={"sasl": sasl, "tls": {"enabled": False}}), "s")
    assert off.client_config()["security.protocol"] == "SASL_PLAINTEXT"


def test_a_property_set_twice_to_different_values_is_refused(env: pytest.MonkeyPatch) -> None:
    settings = MomentumSettings(
        kafka={
            "sasl": {"mechanism": "PLAIN", "username": "u", "password": SASL_PASSWORD},
            "common": {"security_protocol": "SSL", "sasl.password": "other"},
        }
    )
    with pytest.raises(ConfigurationError, match=r"kafka\.common sets 'security\.protocol'") as bad:
        kafka_config(settings, "shop")
    assert SASL_PASSWORD not in str(bad.value)


def test_bad_security_settings_fail_when_the_service_is_built(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="shorter than 16 bytes") as short:
        Service("shop", "Shop", security={"signing_key_id": "k1", "signing_key": "short-key"})
    assert "short-key" not in str(short.value)
    with pytest.raises(ConfigurationError, match="no key verifies them"):
        Service("shop", "Shop", security={"require_signatures": True})
    with pytest.raises(ConfigurationError, match=r"kafka\.sasl\.mechanism"):
        Service(
            "shop", "Shop", kafka={"sasl": {"mechanism": "MD5", "username": "u", "password": "p"}}
        )


def test_a_transport_that_cannot_sign_is_refused_when_security_is_set(
    env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigurationError, match="has no signer"):
        Service(
            "shop",
            "Shop",
            transport=InMemoryBroker().transport(),
            security={"verification_keys": {"k1": OLD_KEY}},
        )


def test_tenancy_settings_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("MOMENTUM_TENANTS", '["acme", "initech"]')
    env.setenv("MOMENTUM_TENANT_ISOLATION", "true")
    settings = MomentumSettings()
    assert settings.tenants == ["acme", "initech"] and settings.tenant_isolation
    with pytest.raises(ConfigurationError, match="at least one tenant"):
        Service("shop", "Shop", tenants=[])
