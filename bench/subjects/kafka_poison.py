"""Candidates of the kafka-poison benchmark: n records produced, then handled or kept.

Every candidate is a started ``Service`` over ``KafkaTransport`` consuming its own topic
(3 partitions, with its ``.dlq``) with one trivial handler. ``run(n)`` produces n records
with a raw producer (the same pre-encoded ``CashierCreated`` record, or the same record with
a value that is not JSON: poison) and returns once all n are handled (good records) or kept
(poison: produced to ``<topic>.dlq`` and flushed, and written to the store's dead letters
when the candidate has a store; ``KafkaTransport.poison_kept`` counts them). Producing is
part of every candidate's time alike, so the ratio compares what the consumer does with a
good record and with a poison one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bench.framework import Run
from bench.subjects.durable_support import (
    postgres_schema,
    postgres_store,
    sqlite_directory,
    sqlite_store,
)
from bench.subjects.kafka_support import (
    TENANTS,
    CashierCreated,
    encoded_record,
    environment,
    kafka_config,
    producer_config,
    topic_of,
    topics,
)

POISON_VALUE = b'{"tenantId": not json'
STALL_SECONDS = 60.0
POLL_SECONDS = 0.001
"""How often a poison candidate looks at its kept count (its own rounds last ~0.1-1 s)."""


def _produce(producer: Any, topic: str, value: bytes, headers: Any, n: int) -> None:
    keys = [str(t).encode() for t in TENANTS]
    for i in range(n):
        while True:
            try:
                producer.produce(topic, value, keys[i % len(keys)], headers=headers)
                break
            except BufferError:
                producer.poll(0.01)
    remaining = producer.flush(30)
    if remaining:
        raise RuntimeError(f"{remaining} records of {topic} undelivered")


@asynccontextmanager
async def _consumer(*, poison: bool, store: Any = None) -> AsyncIterator[Run]:
    from confluent_kafka import Producer

    from momentum import Service
    from momentum.kafka import KafkaTransport

    env = environment()
    topic = topic_of(CashierCreated, env)
    async with topics([topic, f"{topic}.dlq"]):
        transport = KafkaTransport(kafka_config())
        handled = 0
        done = asyncio.Event()
        target = 0

        async def handle(event: CashierCreated) -> None:
            nonlocal handled
            handled += 1
            if handled >= target:
                done.set()

        storage: dict[str, Any] = {"store": store} if store else {"database_url": "memory://"}
        service = Service(
            "bench-poison", "BenchKafka", transport=transport, environment=env, **storage
        )
        service.add_handler(handle)
        _, good_value, headers = encoded_record()
        value = POISON_VALUE if poison else good_value
        producer = Producer({**producer_config(), "linger.ms": 5})
        async with service:
            deadline = time.monotonic() + STALL_SECONDS
            while len(transport.assignment) < 3:  # joined: records are consumed at once
                if time.monotonic() > deadline:
                    raise RuntimeError("the consumer got no assignment")
                await asyncio.sleep(0.05)

            async def run(n: int) -> None:
                nonlocal target
                target = (transport.poison_kept if poison else handled) + n
                done.clear()
                await asyncio.to_thread(_produce, producer, topic, value, headers, n)
                limit = time.monotonic() + STALL_SECONDS + n / 1000
                if not poison:
                    await asyncio.wait_for(done.wait(), limit - time.monotonic())
                    return
                while transport.poison_kept < target:
                    if time.monotonic() > limit:
                        raise RuntimeError(f"{transport.poison_kept} of {target} kept")
                    await asyncio.sleep(POLL_SECONDS)

            yield run


def good_records() -> Any:
    """Good records through a service without a store (``memory://``)."""
    return _consumer(poison=False, store=None)


def poison_records() -> Any:
    """Poison records through the same kind of service: kept on ``<topic>.dlq``."""
    return _consumer(poison=True, store=None)


@asynccontextmanager
async def poison_records_sqlite() -> AsyncIterator[Run]:
    """Poison records kept on ``<topic>.dlq`` and in a SQLite store's dead letters."""
    async with (
        sqlite_directory() as directory,
        _consumer(poison=True, store=sqlite_store(directory / "bench.db")) as run,
    ):
        yield run


@asynccontextmanager
async def poison_records_postgres() -> AsyncIterator[Run]:
    """Poison records kept on ``<topic>.dlq`` and in a PostgreSQL store's dead letters."""
    async with (
        postgres_schema("poison") as schema,
        _consumer(poison=True, store=postgres_store(schema)) as run,
    ):
        yield run
