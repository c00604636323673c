"""Settings precedence: keyword arguments > MOMENTUM_* environment > TOML file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from momentum import MomentumSettings, Service


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = MomentumSettings()
    assert settings.environment == "development"
    assert settings.local_queues.concurrency == 4
    assert settings.middleware.enabled is True


def test_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "momentum.toml").write_text(
        'environment = "staging"\n[local_queues]\nconcurrency = 2\n'
        "[middleware]\nslow_handler_seconds = 5.0\n"
    )
    from_file = MomentumSettings()
    assert (from_file.environment, from_file.local_queues.concurrency) == ("staging", 2)
    monkeypatch.setenv("MOMENTUM_ENVIRONMENT", "production")
    monkeypatch.setenv("MOMENTUM_LOCAL_QUEUES__CONCURRENCY", "8")
    from_env = MomentumSettings()
    assert (from_env.environment, from_env.local_queues.concurrency) == ("production", 8)
    assert from_env.middleware.slow_handler_seconds == 5.0  # untouched by env: from the file
    service = Service("svc", "Shop", environment="qa")
    assert service.settings.environment == "qa"
    assert service.group_id == "qa.svc"


def test_named_file_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MOMENTUM_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(FileNotFoundError, match=r"missing\.toml"):
        MomentumSettings()
    other = tmp_path / "other.toml"
    other.write_text('environment = "demo"\n')
    monkeypatch.setenv("MOMENTUM_CONFIG_FILE", str(other))
    assert MomentumSettings().environment == "demo"


def test_kafka_transport_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from momentum.kafka import KafkaTransport

    monkeypatch.chdir(tmp_path)
    assert Service("svc", "Shop").transport is None  # no Kafka configured: in-process only
    monkeypatch.setenv("MOMENTUM_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    monkeypatch.setenv("MOMENTUM_KAFKA__CONSUMER__MAX_POLL_INTERVAL_MS", "600000")
    monkeypatch.setenv("MOMENTUM_KAFKA__COMMON__SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("MOMENTUM_KAFKA__GC_FREEZE", "false")
    service = Service("svc", "Shop", kafka={"provision": True, "partitions": 6})
    transport = service.transport
    assert isinstance(transport, KafkaTransport)
    config = transport.config
    assert config.bootstrap_servers == "127.0.0.1:9092" and config.client_id == "svc"
    assert config.consumer_config("g")["max.poll.interval.ms"] == "600000"
    assert config.provisioning.enabled and config.provisioning.partitions == 6
    assert not config.gc.freeze and config.gc.gen0_threshold == 10_000
    assert "hunter2" not in repr(config)  # secrets never shown


def test_kafka_settings_defaults_match_the_transport_defaults() -> None:
    from momentum.kafka import KafkaConfig
    from momentum.settings import KafkaSettings

    settings, config = KafkaSettings(), KafkaConfig(bootstrap_servers="x:1")
    assert settings.max_buffered_per_partition == config.max_buffered_per_partition
    assert settings.key_concurrency == config.key_concurrency
    assert settings.compression == config.compression
    assert settings.assignment_strategy == config.assignment_strategy
    assert settings.commit_interval_seconds == config.commit_interval
    assert settings.revoke_timeout_seconds == config.revoke_timeout
    assert settings.gc_freeze == config.gc.freeze
    assert settings.gc_gen0_threshold == config.gc.gen0_threshold
