"""Hostile records on real Kafka: none of them holds the consumer back, each is kept with a
reason that says where it went (a real SQLite store file)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer
from kafka_support import committed_offsets, read_records, wait_for
from momentum_kafka_events import OrderPlaced

from momentum import Envelope, Service
from momentum.contracts.message_types import message_type_name
from momentum.kafka import KafkaConfig, KafkaTransport
from momentum.runtime.policies import ErrorRule
from momentum.runtime.records import encode_outgoing
from momentum.sqlite import SqliteStore
from momentum.testing import tracked

pytestmark = pytest.mark.kafka

BIG = 1_040_000
"""A value the broker takes (message.max.bytes 1048588) but whose dead-letter copy, with its
extra headers, the copy's producer refuses (message.max.bytes 1000000)."""


def ce_headers(record_id: str | None = None) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", (record_id or str(uuid.uuid4())).encode()),
        ("ce_type", message_type_name(OrderPlaced).encode()),
        ("ce_source", b"/test/hostile"),
        ("content-type", b"application/json"),
    ]


def good(topic: str, seq: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    record = encode_outgoing(Envelope(OrderPlaced("ada", seq), source="/shop/shop"), topic, "ada")
    return record.body, record.headers


def billing(config: KafkaConfig, environment: str, store: SqliteStore, got: list[int]) -> Service:
    async def placed(event: OrderPlaced) -> None:
        got.append(event.seq)

    service = Service(
        "billing", "Billing", transport=KafkaTransport(config), store=store, environment=environment
    )
    service.add_handler(placed)
    return service


async def test_a_poison_record_too_large_for_its_copy_stalls_no_partition_and_is_kept_whole(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    kafka_bootstrap: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = f"{environment}.kafkatests.public.orders.v1"
    got: list[int] = []
    store = SqliteStore(tmp_path / "billing.db")
    service = billing(make_config(), environment, store, got)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.max.bytes": 1_048_576})
    poison = b"{" + b"x" * (BIG - 1)  # not JSON
    caplog.set_level(logging.WARNING, logger="momentum.kafka")
    async with service:
        async with tracked(service, timeout=60):  # assigned and consuming: nothing else waits
            value, headers = good(topic, 100)
            producer.produce(topic, value, b"ada", headers=headers, partition=1)
            assert producer.flush(30) == 0
        got.clear()
        started = time.monotonic()
        producer.produce(topic, poison, b"big", headers=ce_headers("big-1"), partition=0)
        for seq in range(10):  # behind it on every partition
            value, headers = good(topic, seq)
            producer.produce(topic, value, b"ada", headers=headers, partition=seq % 3)
        assert producer.flush(30) == 0
        await wait_for(lambda: len(got) == 10, "the good records", limit=60)
        elapsed = time.monotonic() - started
        await wait_for(
            lambda: max(committed_offsets(kafka_bootstrap, service.group_id, topic)) >= 1,
            "commits",
        )
        async with tracked(service, timeout=60):
            pass
        letters = await store.dead_letters()
        group = service.group_id
    # before: the consumer thread retried the copy for 30 s, every partition waiting
    assert elapsed < 10, f"good records waited {elapsed:.1f} s behind the poison record"
    assert sorted(got) == list(range(10))
    assert committed_offsets(kafka_bootstrap, group, topic)[0] == 1 + 4  # poison + seq 0,3,6,9
    (letter,) = letters
    assert letter.record.body == poison  # kept whole in the store
    assert letter.record.message_id == "big-1" and letter.origin_offset == 0
    assert letter.exception_message.startswith("[invalid-json]")
    assert f"on {topic}.dlq without its value ({BIG} bytes" in letter.exception_message
    assert "MSG_SIZE_TOO_LARGE" in letter.exception_message
    (copy,) = read_records(kafka_bootstrap, f"{topic}.dlq", 1)
    headers = dict(copy.headers() or [])
    assert copy.value() == b"" and copy.key() == b"big"
    assert headers["momentum-dlq-value-omitted"] == str(BIG).encode()
    assert headers["momentum-dlq-reason"] == b"invalid-json"
    assert headers["ce_id"] == b"big-1"
    (line,) = [
        r.getMessage()
        for r in caplog.records
        if r.name == "momentum.kafka.dead_letters" and "without its value" in r.getMessage()
    ]
    assert f"{topic}[0]@0 (invalid-json)" in line
    assert "kept whole in the store's dead letters" in line


async def test_a_number_of_ruinous_size_is_dead_lettered_at_once(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    topic = f"{environment}.kafkatests.public.orders.v1"
    got: list[int] = []
    store = SqliteStore(tmp_path / "billing.db")
    service = billing(make_config(), environment, store, got)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    async with service:
        async with tracked(service, timeout=60):  # assigned and consuming: nothing else waits
            value, headers = good(topic, 0)
            producer.produce(topic, value, b"ada", headers=headers)
            assert producer.flush(30) == 0
        started = time.monotonic()
        producer.produce(topic, b'{"seq":1e10000000}', b"ada", headers=ce_headers("huge-1"))
        value, headers = good(topic, 1)
        producer.produce(topic, value, b"ada", headers=headers)
        assert producer.flush(30) == 0
        await wait_for(lambda: got == [0, 1], "the record behind it", limit=120)
        elapsed = time.monotonic() - started
        letters = await store.dead_letters()
    # before: the consumer thread spent 11 s here building a ten-million-digit int
    assert elapsed < 3, f"took {elapsed:.1f} s"
    (letter,) = letters
    assert letter.record.message_id == "huge-1"
    assert letter.exception_message.startswith("[invalid-json]")
    assert "out of range" in letter.exception_message


async def test_untyped_decoding_failures_are_typed_and_logged_in_one_line_each(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    kafka_bootstrap: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = f"{environment}.kafkatests.public.orders.v1"
    got: list[int] = []
    store = SqliteStore(tmp_path / "billing.db")
    service = billing(make_config(), environment, store, got)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    hostile = {
        "deep-1": b'{"seq": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",  # RecursionError
        "deep-2": b"[" * 50_000,  # RecursionError
        "exp-1": b'{"seq": 1e99999999999999999999}',  # decimal.InvalidOperation
        "exp-2": b'{"seq": 1.5e-99999999999999999999}',  # decimal.InvalidOperation
    }
    caplog.set_level(logging.INFO, logger="momentum.kafka.codec")
    async with service:
        async with tracked(service, timeout=60):
            for record_id, value in hostile.items():
                producer.produce(topic, value, b"ada", headers=ce_headers(record_id))
            assert producer.flush(30) == 0
        letters = await store.dead_letters()
    assert sorted(x.record.message_id for x in letters) == sorted(hostile)
    for letter in letters:
        assert letter.exception_type == "momentum.contracts.errors.InvalidJsonError"
        assert letter.exception_message.startswith("[invalid-json]")
    lines = [r for r in caplog.records if r.name == "momentum.kafka.codec"]
    assert len(lines) == len(hostile)  # one line per record
    assert all(r.exc_info is None and r.levelno == logging.WARNING for r in lines)
    assert all("(invalid-json)" in r.getMessage() for r in lines)


async def test_a_handler_dead_letter_too_large_for_its_copy_is_written_without_its_value(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    kafka_bootstrap: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = f"{environment}.kafkatests.public.orders.v1"
    store = SqliteStore(tmp_path / "billing.db")

    async def placed(event: OrderPlaced) -> None:
        raise ValueError("always")

    service = Service(
        "billing",
        "Billing",
        transport=KafkaTransport(make_config()),
        store=store,
        environment=environment,
    )
    service.add_handler(placed)
    service.on_error(ErrorRule.on(ValueError).dead_letter())
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.max.bytes": 1_048_576})
    value = b'{"customer": "' + b"a" * (BIG - 30) + b'", "seq": 1}'
    caplog.set_level(logging.WARNING, logger="momentum.kafka")
    async with service:
        async with tracked(service, timeout=60):
            producer.produce(topic, value, b"big", headers=ce_headers("big-2"))
            assert producer.flush(30) == 0
        (letter,) = await store.dead_letters()
    assert letter.record.body == value and letter.exception_message == "always"
    (copy,) = read_records(kafka_bootstrap, f"{topic}.dlq", 1)
    headers = dict(copy.headers() or [])
    assert copy.value() == b"" and copy.key() == b"big"
    assert headers["momentum-dlq-value-omitted"] == str(len(value)).encode()
    assert headers["momentum-dlq-exception-message"] == b"always"
    assert not [r for r in caplog.records if "receiver raised" in r.getMessage()]
    assert [r for r in caplog.records if "without its value" in r.getMessage()]
