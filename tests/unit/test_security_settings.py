"""The ``security`` (signing keys) and tenancy settings: read from the environment, handed to
the Kafka client, never shown."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from momentum import ConfigurationError, MomentumSettings, Service
from momentum.testing import InMemoryBroker

SIGNING_KEY = "signing-key-0123456789abcdef-new"
OLD_KEY = "verify-key-0123456789abcdef-old"
SECRETS = (SIGNING_KEY, OLD_KEY)


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


def test_bad_security_settings_fail_when_the_service_is_built(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="shorter than 16 bytes") as short:
        Service("shop", "Shop", security={"signing_key_id": "k1", "signing_key": "short-key"})
    assert "short-key" not in str(short.value)
    with pytest.raises(ConfigurationError, match="no key verifies them"):
        Service("shop", "Shop", security={"require_signatures": True})


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
