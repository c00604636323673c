"""Service() refuses arguments that cannot work, at construction, with a ConfigurationError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from momentum import (
    ConfigurationError,
    KafkaSettings,
    LocalQueueSettings,
    MomentumError,
    MomentumSettings,
    Service,
    StoreSettings,
)
from momentum.testing import InMemoryBroker, InMemoryTransport


def refused(**arguments: Any) -> str:
    with pytest.raises(ConfigurationError) as info:
        Service("svc", "Shop", **arguments)
    assert isinstance(info.value, MomentumError)
    return str(info.value)


@pytest.mark.parametrize(
    ("argument", "suggestion"),
    [
        ("databse_url", "database_url"),
        ("enviroment", "environment"),
        ("trasnport", "transport"),
        ("local_queue", "local_queues"),
        ("stroe", "store"),
    ],
)
def test_a_misspelt_argument_is_refused_with_the_close_spelling(
    argument: str, suggestion: str
) -> None:
    message = refused(**{argument: "x"})
    assert f"unknown argument {argument!r}; did you mean {suggestion!r}?" in message
    assert "database_url" in message and "kafka" in message  # what it takes


def test_an_argument_nothing_like_a_setting_lists_what_is_allowed() -> None:
    message = refused(colour="blue")
    assert "unknown argument 'colour'." in message
    assert "It takes actors, database_url, dead_letters, domain, environment, kafka," in message


def test_a_misspelt_nested_key_is_refused_with_the_close_spelling() -> None:
    message = refused(kafka={"key_concurency": 2})
    assert "Service(kafka=...): unknown kafka setting 'key_concurency'" in message
    assert "did you mean 'key_concurrency'?" in message
    message = refused(store={"lease_second": 10})
    assert "unknown store setting 'lease_second'; did you mean 'lease_seconds'?" in message


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"kafka": {"key_concurrency": 0}}, "kafka.key_concurrency: Input should be greater than"),
        ({"store": {"lease_seconds": -1}}, "store.lease_seconds: Input should be greater than 0"),
        ({"local_queues": {"concurrency": "many"}}, "local_queues.concurrency: Input should be"),
        ({"shutdown_seconds": -5}, "shutdown_seconds: Input should be greater than or equal"),
    ],
)
def test_an_out_of_range_setting_is_a_configuration_error(
    arguments: dict[str, Any], fragment: str
) -> None:
    message = refused(**arguments)
    assert message.startswith("Invalid settings") and fragment in message


def test_an_invalid_value_is_named_but_a_string_value_is_not_shown() -> None:
    assert "(got 0)" in refused(kafka={"key_concurrency": 0})
    message = refused(kafka={"partitions": "postgresql://user:secret@host/db"})
    assert "kafka.partitions" in message and "secret" not in message


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"kafka": 3}, "Service(kafka=...) takes a dict of kafka settings or a KafkaSettings"),
        ({"middleware": ["on"]}, "takes a dict of middleware settings or a MiddlewareSettings"),
        ({"store": "postgresql://u:secret@h/db"}, "got a str (a database is named with database_"),
        ({"store": 42}, "Service(store=...) takes a message store such as SqliteStore(...)"),
        ({"transport": "kafka"}, "Service(transport=...) takes a transport"),
        ({"dead_letters": []}, "Service(dead_letters=...) takes a dead-letter sink, got a list"),
        ({"settings": {"environment": "qa"}}, "Service(settings=...) takes a MomentumSettings"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused(arguments: dict[str, Any], fragment: str) -> None:
    message = refused(**arguments)
    assert fragment in message and "secret" not in message


def test_settings_and_keyword_settings_together_are_refused() -> None:
    message = refused(settings=MomentumSettings(), environment="qa")
    assert "either settings= or setting keyword arguments" in message and "environment" in message


@pytest.mark.parametrize(
    "store",
    [
        {"lease_seconds": 10, "relay_batch_size": 7},
        StoreSettings(lease_seconds=10, relay_batch_size=7),
    ],
)
async def test_store_settings_as_an_argument_take_effect(store: object, tmp_path: Path) -> None:
    service = Service(
        "svc",
        "Shop",
        store=store,
        database_url=f"sqlite:///{tmp_path / 'svc.db'}",
        transport=InMemoryTransport(InMemoryBroker()),
    )
    assert service.settings.store.lease_seconds == 10
    assert type(service.store).__name__ == "SqliteStore"  # the store database_url names
    async with service:
        relay = service.runtime.relay
        assert relay is not None
        assert (relay.settings.lease_seconds, relay.settings.batch_size) == (10, 7)


def test_a_dict_sets_only_its_keys_a_settings_object_the_whole_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOMENTUM_KAFKA__PARTITIONS", "6")
    from_dict = Service("svc", "Shop", kafka={"key_concurrency": 4})
    assert (from_dict.settings.kafka.key_concurrency, from_dict.settings.kafka.partitions) == (4, 6)
    from_object = Service("svc", "Shop", kafka=KafkaSettings(key_concurrency=4))
    assert from_object.settings.kafka == KafkaSettings(key_concurrency=4)
    queues = Service("svc", "Shop", local_queues=LocalQueueSettings(concurrency=2))
    assert queues.settings.local_queues.concurrency == 2
