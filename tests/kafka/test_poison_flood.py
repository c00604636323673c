"""1,000 garbage records mixed with 1,000 good ones on one partition: every good one is handled
in order, every garbage one is dead-lettered to `<topic>.dlq` with its reason, nothing stalls;
with a store, a flood of poison is kept in batches (one transaction each)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Producer
from kafka_support import committed_offsets
from momentum_kafka_events import OrderPlaced

from momentum import Envelope, Service
from momentum.contracts.message_types import message_type_name
from momentum.kafka import KafkaConfig, KafkaTransport
from momentum.postgres import PostgresStore
from momentum.runtime.records import encode_outgoing
from momentum.testing import tracked

pytestmark = pytest.mark.kafka

COUNT = 1000


def garbage(i: int, type_name: str) -> tuple[bytes, list[tuple[str, bytes]], str]:
    """The i-th bad record (value, headers) and the reason it must be dead-lettered with."""
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_type", type_name.encode()),
        ("ce_source", b"/test/garbage"),
        ("content-type", b"application/json"),
    ]
    kind = i % 4
    if kind == 0:
        return b"\x00\xff not json", headers, "invalid-json"
    if kind == 1:
        return b'{"customer": "ada"}', headers, "schema-mismatch"
    if kind == 2:
        return b'{"customer": "ada", "seq": 1}', [("ce_specversion", b"\xfe")], "invalid-cloudevent"
    return b"{}", [], "invalid-cloudevent"


async def test_garbage_mixed_with_good_records_is_dead_lettered_and_good_ones_flow_in_order(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    topic = f"{environment}.kafkatests.public.orders.v1"
    type_name = message_type_name(OrderPlaced)
    got: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        got.append(event.seq)

    billing = Service(
        "billing", "Billing", transport=KafkaTransport(make_config()), environment=environment
    )
    billing.add_handler(placed)
    expected: Counter[str] = Counter()
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    async with billing:
        async with tracked(billing, timeout=90):
            for i in range(COUNT):
                good = encode_outgoing(
                    Envelope(OrderPlaced("ada", i), source="/shop/shop"), topic, "ada"
                )
                producer.produce(topic, good.body, b"ada", headers=good.headers)
                value, headers, reason = garbage(i, type_name)
                producer.produce(topic, value, b"ada", headers=headers)
                expected[reason] += 1
                producer.poll(0)
            assert producer.flush(30) == 0
        transport = billing.transport
        assert isinstance(transport, KafkaTransport)
        assert transport.poison_records == COUNT
        group = billing.group_id
    assert got == list(range(COUNT))
    assert max(committed_offsets(kafka_bootstrap, group, topic)) == 2 * COUNT
    reader = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"{environment}-dlq-reader",
            "auto.offset.reset": "earliest",
        }
    )
    reader.subscribe([f"{topic}.dlq"])
    reasons: Counter[str] = Counter()
    deadline = time.monotonic() + 60
    try:
        while sum(reasons.values()) < COUNT and time.monotonic() < deadline:
            for record in reader.consume(500, 0.5):
                if record.error() is None:
                    found = dict(record.headers() or [])
                    reasons[found["momentum-dlq-reason"].decode()] += 1
    finally:
        reader.close()
    assert reasons == expected


async def test_an_unknown_type_is_skipped_on_a_shared_topic_and_poison_on_an_owned_one(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    topic = f"{environment}.kafkatests.public.orders.v1"

    async def placed(event: OrderPlaced) -> None:
        pass

    # "orders" owns the topic: its package defines the events published there
    owner = Service(
        "orders",
        "Orders",
        ["momentum_kafka_events"],
        transport=KafkaTransport(make_config()),
        environment=environment,
    )
    owner.add_handler(placed)
    reader = Service(
        "reader", "Reader", transport=KafkaTransport(make_config()), environment=environment
    )
    reader.add_handler(placed)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_type", b"Somebody.Else.Happened"),
        ("ce_source", b"/test/raw"),
        ("content-type", b"application/json"),
    ]
    async with owner, reader:
        assert [s.owned for s in owner.runtime.subscriptions()] == [True]
        assert [s.owned for s in reader.runtime.subscriptions()] == [False]
        async with tracked(owner, reader, timeout=60):
            producer.produce(topic, b"{}", b"ada", headers=headers)
            assert producer.flush(30) == 0
        owner_transport, reader_transport = owner.transport, reader.transport
        assert isinstance(owner_transport, KafkaTransport)
        assert isinstance(reader_transport, KafkaTransport)
        assert (owner_transport.poison_records, owner_transport.skipped_records) == (1, 0)
        assert (reader_transport.poison_records, reader_transport.skipped_records) == (0, 1)


class CountingStore:
    """A real store whose transactions that write dead letters are counted."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.letters_per_transaction: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    @asynccontextmanager
    async def transaction(self, connection: Any = None) -> AsyncIterator[Any]:
        async with self.store.transaction(connection) as tx:
            counted = _CountingTransaction(tx)
            yield counted
        if counted.letters:
            self.letters_per_transaction.append(counted.letters)


class _CountingTransaction:
    def __init__(self, tx: Any) -> None:
        self.tx = tx
        self.letters = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tx, name)

    async def add_dead_letter(self, letter: Any) -> int:
        self.letters += 1
        return int(await self.tx.add_dead_letter(letter))

    async def add_dead_letters(self, letters: list[Any]) -> None:
        self.letters += len(letters)
        await self.tx.add_dead_letters(letters)


async def test_a_flood_of_poison_is_kept_in_batches_one_transaction_each(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    kafka_bootstrap: str,
    database_url: str,
    unique_name: str,
) -> None:
    topic = f"{environment}.kafkatests.public.orders.v1"
    type_name = message_type_name(OrderPlaced)
    got: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        got.append(event.seq)

    store = CountingStore(PostgresStore(database_url, schema=unique_name))
    billing = Service(
        "billing",
        "Billing",
        transport=KafkaTransport(make_config()),
        store=store,  # type: ignore[arg-type]
        environment=environment,
    )
    billing.add_handler(placed)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 50})
    try:
        async with billing:
            async with tracked(billing, timeout=90):
                for i in range(COUNT):
                    value, headers, _ = garbage(i, type_name)
                    producer.produce(topic, value, b"ada", headers=headers)
                    if i % 10 == 0:
                        good = encode_outgoing(
                            Envelope(OrderPlaced("ada", i), source="/shop/shop"), topic, "ada"
                        )
                        producer.produce(topic, good.body, b"ada", headers=good.headers)
                    producer.poll(0)
                assert producer.flush(30) == 0
            letters = await store.dead_letters()
            group = billing.group_id
    finally:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{unique_name}" CASCADE')
    assert got == list(range(0, COUNT, 10))  # the good ones in order, none held back
    assert len(letters) == COUNT
    assert sum(store.letters_per_transaction) == COUNT
    # before: one transaction (and one .dlq flush) per poison record, ~300 records/s
    assert len(store.letters_per_transaction) <= COUNT // 20, store.letters_per_transaction
    assert max(committed_offsets(kafka_bootstrap, group, topic)) == COUNT + COUNT // 10
