"""Candidates of the durable-inbox benchmark: inbound records handled, each in a transaction.

A started ``Service`` with an ``InMemoryBroker`` transport (4 lanes, records keyed by 24
tenants) and one trivial handler. ``run(n)`` hands n pre-built wire records to the broker
with ``broker.publish_record`` (what a Kafka redelivery or the relay does: decode, queue on
the key's lane) and returns when the n-th handler finished and, with a store, every inbox row
is committed (``settle``, what the Kafka consumer waits for before committing offsets). With a
store, the inbox is checked per message (looked up ahead when queued, one query for what is
queued together) and the rows are written by the group commit: many messages per
transaction. The raw candidates are the per-message-commit floor: one ``INSERT ... ON
CONFLICT DO NOTHING`` into a one-table inbox per transaction.

Records (unique message ids) are built at setup for the warm-up and every round: the
benchmark runs with fixed ops (see bench/cases/durable.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bench.framework import Run, current_config
from bench.subjects.durable_support import (
    DATABASE_URL,
    DOMAIN,
    ENVIRONMENT,
    Countdown,
    postgres_schema,
    postgres_store,
    records,
    run_id,
    sqlite_directory,
    sqlite_store,
)
from bench.subjects.kafka_support import CashierCreated

LANES = 4
"""Concurrent transactions: the in-memory broker's lanes (its default), the raw workers."""

HANDLER = "bench.handle"


def _needed() -> int:
    config = current_config()
    return (config.ops or 1000) * (config.rounds + 1)


@asynccontextmanager
async def _service(**options: Any) -> AsyncIterator[Run]:
    from momentum import Service
    from momentum.testing import InMemoryBroker

    broker = InMemoryBroker(concurrency=LANES)
    countdown = Countdown()

    async def handle(event: CashierCreated) -> None:
        countdown.hit()

    service = Service(
        "bench-inbox",
        DOMAIN,
        transport=broker.transport(),
        environment=ENVIRONMENT,
        **options,
    )
    service.add_handler(handle)
    pending = records(_needed(), run_id())
    position = 0

    async def run(n: int) -> None:
        nonlocal position
        batch = pending[position : position + n]
        position += n
        if len(batch) < n:
            raise RuntimeError("durable-inbox: more ops than records built at setup")
        broker.records.clear()
        broker.published.clear()

        def feed() -> None:
            for record in batch:
                broker.publish_record(record)

        await countdown.wait(n, feed)
        durability = service.runtime.durability
        if durability is not None:  # done when the n-th inbox row is committed
            await durability.settle()

    async with service:
        yield run


def momentum_memory() -> Any:
    """No store (``database_url="memory://"``): decode, queue, handle."""
    return _service(database_url="memory://")


@asynccontextmanager
async def momentum_postgres() -> AsyncIterator[Run]:
    """``PostgresStore`` (pool of 10, defaults) in a fresh schema."""
    async with postgres_schema("inbox") as schema, _service(store=postgres_store(schema)) as run:
        yield run


@asynccontextmanager
async def momentum_sqlite() -> AsyncIterator[Run]:
    """``SqliteStore`` (one WAL file, defaults) in a temporary directory."""
    async with sqlite_directory() as path, _service(store=sqlite_store(path / "inbox.db")) as run:
        yield run


_INBOX_TABLE = (
    "CREATE TABLE {table} (message_id text NOT NULL, handler text NOT NULL,"
    " recorded_at {time} NOT NULL, PRIMARY KEY (message_id, handler))"
)


@asynccontextmanager
async def raw_postgres() -> AsyncIterator[Run]:
    """psycopg: per message ``BEGIN; INSERT ... ON CONFLICT DO NOTHING; COMMIT`` (4 workers)."""
    import psycopg

    async with postgres_schema("rawinbox") as schema:
        table = f'"{schema}".inbox'
        connections = [
            await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True)
            for _ in range(LANES)
        ]
        try:
            await connections[0].execute(f'CREATE SCHEMA "{schema}"')
            await connections[0].execute(_INBOX_TABLE.format(table=table, time="timestamptz"))
            insert = (
                f"INSERT INTO {table} (message_id, handler, recorded_at)"
                " VALUES (%s, %s, now()) ON CONFLICT DO NOTHING"
            )
            ids = [r.message_id for r in records(_needed(), run_id())]
            position = 0

            async def work(connection: Any, batch: list[str]) -> None:
                for message_id in batch:
                    async with connection.transaction():
                        await connection.execute(insert, (message_id, HANDLER))

            async def run(n: int) -> None:
                nonlocal position
                batch = ids[position : position + n]
                position += n
                await asyncio.gather(*(work(c, batch[i::LANES]) for i, c in enumerate(connections)))

            yield run
        finally:
            for connection in connections:
                await connection.close()


@asynccontextmanager
async def raw_sqlite() -> AsyncIterator[Run]:
    """sqlite3 (WAL, defaults) on a thread: per message ``BEGIN; INSERT ...; COMMIT``."""
    async with sqlite_directory() as path:
        connection = sqlite3.connect(path / "raw.db", isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute(_INBOX_TABLE.format(table="inbox", time="real"))
            insert = (
                "INSERT INTO inbox (message_id, handler, recorded_at)"
                " VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
            )
            ids = [r.message_id for r in records(_needed(), run_id())]
            position = 0

            def work(batch: list[str]) -> None:
                for message_id in batch:
                    connection.execute("BEGIN IMMEDIATE")
                    connection.execute(insert, (message_id, HANDLER, time.time()))
                    connection.execute("COMMIT")

            async def run(n: int) -> None:
                nonlocal position
                batch = ids[position : position + n]
                position += n
                await asyncio.to_thread(work, batch)

            yield run
        finally:
            connection.close()
