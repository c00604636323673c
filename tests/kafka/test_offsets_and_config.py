"""Unit tests (no broker): the offset tracker and the configuration."""

from __future__ import annotations

import subprocess
import sys

import pytest

from momentum.contracts.errors import ConfigurationError, TransportError
from momentum.kafka import KafkaConfig
from momentum.kafka.offsets import OffsetTracker


def test_tracker_never_commits_past_an_unfinished_record() -> None:
    tracker = OffsetTracker()
    assert tracker.position is None and tracker.to_commit() is None
    for offset in range(10, 15):
        tracker.add(offset)
    for offset in (11, 12, 14):  # other keys finish first
        tracker.complete(offset)
    assert tracker.position == 10
    tracker.complete(10)
    assert tracker.position == 13  # 13 still running
    assert tracker.in_flight == 2
    tracker.complete(13)
    assert tracker.position == 15 and tracker.in_flight == 0


def test_tracker_reports_only_advances_and_handles_gaps() -> None:
    tracker = OffsetTracker()
    tracker.add(5)
    tracker.add(9)  # 6..8 do not exist (compacted)
    tracker.complete(5)
    assert tracker.to_commit() == 9
    tracker.committed = 9
    assert tracker.to_commit() is None
    tracker.complete(9)
    assert tracker.to_commit() == 10
    with pytest.raises(TransportError):
        tracker.add(7)


def test_config_defaults_are_safe() -> None:
    config = KafkaConfig(bootstrap_servers="127.0.0.1:9092")
    producer = config.producer_config()
    assert producer["enable.idempotence"] is True
    assert producer["acks"] == "all"
    assert producer["compression.type"] == "zstd"
    consumer = config.consumer_config("dev.billing")
    assert consumer["group.id"] == "dev.billing"
    assert consumer["enable.auto.commit"] is False
    assert consumer["auto.offset.reset"] == "earliest"
    assert consumer["partition.assignment.strategy"] == "cooperative-sticky"


def test_overrides_win_and_the_new_group_protocol_drops_the_assignor() -> None:
    config = KafkaConfig(
        bootstrap_servers="b:9092",
        producer={"linger.ms": 50},
        consumer={"group.protocol": "consumer", "max.poll.interval.ms": 60000},
        compression="lz4",
    )
    assert config.producer_config()["linger.ms"] == 50
    assert config.producer_config()["compression.type"] == "lz4"
    consumer = config.consumer_config("g")
    assert "partition.assignment.strategy" not in consumer
    assert consumer["max.poll.interval.ms"] == 60000


def test_secrets_never_appear_in_repr() -> None:
    config = KafkaConfig(
        bootstrap_servers="b:9092",
        common={
            "security.protocol": "SASL_SSL",
            "sasl.username": "svc",
            "sasl.password": "hunter2",
            "ssl.key.password": "s3cr3t",
        },
        consumer={"sasl.oauthbearer.client.secret": "abc123"},
    )
    text = repr(config) + str(config)
    for secret in ("hunter2", "s3cr3t", "abc123"):
        assert secret not in text
    assert "SASL_SSL" in text and "<redacted>" in text
    assert config.client_config()["sasl.password"] == "hunter2"  # still passed to librdkafka


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        KafkaConfig(bootstrap_servers=" ")
    with pytest.raises(ConfigurationError):
        KafkaConfig(bootstrap_servers="b:9092", key_concurrency=0)


def test_import_without_confluent_kafka_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['confluent_kafka'] = None\n"
        "try:\n    import momentum.kafka\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'momentum-messaging[kafka]'" in out.stdout


def test_gc_tuning_raises_the_threshold_never_lowers_it_and_freezes_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    from momentum.kafka import config as kafka_config
    from momentum.kafka.config import GcTuning

    assert KafkaConfig(bootstrap_servers="b:9092").gc == GcTuning(True, 10_000)
    with pytest.raises(ConfigurationError):
        GcTuning(gen0_threshold=0)
    calls: list[str] = []
    monkeypatch.setattr(kafka_config, "_gc_frozen", False)
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append("collect"))
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    original = gc.get_threshold()
    try:
        gc.set_threshold(700, original[1], original[2])
        GcTuning(freeze=False, gen0_threshold=5000).apply()
        assert gc.get_threshold()[0] == 5000 and calls == []
        GcTuning(freeze=True, gen0_threshold=1000).apply()  # never lowered
        assert gc.get_threshold()[0] == 5000 and calls == ["collect", "freeze"]
        GcTuning(freeze=True, gen0_threshold=None).apply()  # once per process
        assert gc.get_threshold()[0] == 5000 and calls == ["collect", "freeze"]
    finally:
        gc.set_threshold(*original)
