"""Outbox and inbox on real Kafka and PostgreSQL: a relay killed with SIGKILL between Kafka's
acknowledgement and marking its rows sent publishes them again, and the consumer's inbox runs
each handler once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition
from kafka_support import committed_offsets, wait_for
from momentum_kafka_events import OrderPlaced

from momentum import Envelope, Service
from momentum.contracts.topics import topic_name
from momentum.kafka import KafkaTransport
from momentum.postgres import PostgresStore
from momentum.runtime.records import encode_outgoing

HERE = Path(__file__).parent
CUSTOMERS = 4
PER_CUSTOMER = 50


@pytest.fixture
async def schemas(database_url: str, unique_name: str) -> AsyncIterator[tuple[str, str]]:
    base = unique_name.replace("-", "_")[:40]
    names = (f"{base}_outbox", f"{base}_inbox")
    yield names
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for name in names:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def relay(kafka_bootstrap: str, database_url: str) -> Iterator[object]:
    started: list[subprocess.Popen[bytes]] = []
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])

    def start(environment: str, schema: str, mode: str) -> subprocess.Popen[bytes]:
        args = [kafka_bootstrap, environment, database_url, schema, mode]
        process = subprocess.Popen(
            [sys.executable, str(HERE / "relay_process.py"), *args],
            env={**os.environ, "PYTHONPATH": path},
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def records_on(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(3)
        )
    finally:
        consumer.close()


async def test_relay_killed_after_delivery_redelivers_and_the_inbox_runs_handlers_once(
    kafka_bootstrap: str,
    database_url: str,
    environment: str,
    make_config: object,
    schemas: tuple[str, str],
    relay: object,
) -> None:
    outbox_schema, inbox_schema = schemas
    topic = topic_name(OrderPlaced, environment)
    outbox = PostgresStore(database_url, schema=outbox_schema)
    await outbox.open()
    async with outbox.transaction() as tx:
        await tx.add_outgoing(
            [
                encode_outgoing(
                    Envelope(OrderPlaced(f"c{c}", seq), source="/kafka_tests/warehouse"),
                    topic,
                    f"c{c}",
                )
                for seq in range(PER_CUSTOMER)
                for c in range(CUSTOMERS)
            ]
        )
    await outbox.close()

    handled: dict[str, list[int]] = {}

    async def placed(event: OrderPlaced) -> None:
        handled.setdefault(event.customer, []).append(event.seq)

    config = make_config()  # type: ignore[operator]
    billing = Service(
        "billing",
        "Billing",
        transport=KafkaTransport(config),
        store=PostgresStore(database_url, schema=inbox_schema),
        environment=environment,
    )
    billing.add_handler(placed)
    total = CUSTOMERS * PER_CUSTOMER
    async with billing, billing.tracked(timeout=90) as log:
        dying = relay(environment, outbox_schema, "die-after-delivery")  # type: ignore[operator]
        assert await asyncio.to_thread(dying.wait, 60) == -signal.SIGKILL
        assert records_on(kafka_bootstrap, topic) == 50  # delivered, never marked sent
        relay(environment, outbox_schema, "normal")  # type: ignore[operator]
        await wait_for(lambda: records_on(kafka_bootstrap, topic) >= total + 50, "relayed", 60)
        await wait_for(lambda: sum(map(len, handled.values())) >= total, "all handled", 60)
        await wait_for(lambda: len(log.duplicates) >= 50, "duplicates seen", 60)
    assert records_on(kafka_bootstrap, topic) == total + 50  # the first batch twice
    assert handled == {f"c{c}": list(range(PER_CUSTOMER)) for c in range(CUSTOMERS)}
    assert len(log.duplicates) == 50


class HeldCommits:
    """A real store whose transactions wait for ``gate`` (the database stalls)."""

    def __init__(self, inner: PostgresStore) -> None:
        self.inner = inner
        self.gate = asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    @asynccontextmanager
    async def transaction(self, connection: object | None = None) -> AsyncIterator[object]:
        await self.gate.wait()
        async with self.inner.transaction(connection) as tx:
            yield tx


async def test_offsets_are_committed_only_after_the_inbox_rows(
    kafka_bootstrap: str,
    database_url: str,
    environment: str,
    make_config: object,
    schemas: tuple[str, str],
) -> None:
    _, inbox_schema = schemas
    topic = topic_name(OrderPlaced, environment)
    handled: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        handled.append(event.seq)

    store = HeldCommits(PostgresStore(database_url, schema=inbox_schema))
    billing = Service(
        "billing",
        "Billing",
        transport=KafkaTransport(make_config()),  # type: ignore[operator]
        store=store,
        environment=environment,
    )
    billing.add_handler(placed)
    shop = Service(
        "shop",
        "Billing",
        transport=KafkaTransport(make_config()),  # type: ignore[operator]
        environment=environment,
        database_url="memory://",
    )
    async with shop, billing:
        durability = billing.runtime.durability
        assert durability is not None
        await shop.bus.publish_many([OrderPlaced(f"c{n % 3}", n) for n in range(30)])
        await wait_for(lambda: len(handled) == 30, "all handled")
        # every record handled, none durable: the consumer's commit waits for the inbox
        group = billing.runtime.group

        def acknowledged() -> int:  # records below the committed offsets (0 or none: none)
            offsets = committed_offsets(kafka_bootstrap, group, topic)
            return sum(max(0, offset) for offset in offsets)

        await wait_for(
            lambda: durability.commits.waiting > 0 or acknowledged() > 0,
            "the commit loop to wait (or commit)",
        )
        assert acknowledged() == 0
        assert durability.commits.unsettled == 30
        store.gate.set()
        await wait_for(lambda: acknowledged() == 30, "offsets", 60)
        assert (await store.inner.stats()).inbox_size == 30
    assert sorted(handled) == list(range(30))
