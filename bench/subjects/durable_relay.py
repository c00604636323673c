"""Candidates of the durable-relay benchmark: committed outbox rows drained to a transport.

At setup each candidate commits, untimed, enough outbox rows for the warm-up and every round
(``CashierCreated`` records keyed by 24 tenants, 5000 rows per transaction) into its own
store, then ``run(n)`` moves n more of them to a started in-memory transport, batch by batch,
and returns once they are marked sent. The in-memory transport accepts a record at once
(nothing subscribes to the topic, so it is not even decoded): the store is what is measured.

momentum: an ``OutboxRelay`` with the service defaults (batches of 500, 30 s leases) called
in a loop (``relay_once``: claim with lease, keeping per-key order; ``publish_records``;
``complete``): exactly the relay's busy loop, without its idle waiting. A run that stops in
the middle of a batch leaves the surplus to the next run.

raw: one statement per batch of 500 that marks the oldest unsent rows sent and returns them
(``UPDATE ... WHERE id IN (SELECT ... ORDER BY id LIMIT 500 [FOR UPDATE SKIP LOCKED])
RETURNING``), then the same ``publish_records``: no lease, no per-key order, and a row is
marked sent before it is published (a crash loses it), so it is the floor, not a relay.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bench.framework import Run, current_config
from bench.subjects.durable_support import (
    DATABASE_URL,
    TOPIC_PREFIX,
    fill_outbox,
    postgres_schema,
    postgres_store,
    sqlite_directory,
    sqlite_store,
)


def _batch_size() -> int:
    from momentum.settings import StoreSettings

    return StoreSettings().relay_batch_size


def _needed() -> int:
    config = current_config()
    # the warm-up and every round, plus what the last batch may take beyond them
    return (config.ops or 1000) * (config.rounds + 1) + _batch_size()


@asynccontextmanager
async def _transport() -> AsyncIterator[Any]:
    from momentum.testing import InMemoryBroker

    broker = InMemoryBroker()
    transport = broker.transport()

    async def receive(envelope: Any) -> None:  # nothing subscribes: never called
        return None

    await transport.start("bench-relay", [], receive)
    try:
        yield transport
    finally:
        await transport.stop()


@asynccontextmanager
async def _relay(store: Any) -> AsyncIterator[Run]:
    from momentum.runtime.relay import OutboxRelay, RelaySettings

    async with _transport() as transport:
        await store.open()
        try:
            await fill_outbox(store, _needed())
            settings = RelaySettings(
                owner="bench-relay", destination_prefix=TOPIC_PREFIX, batch_size=_batch_size()
            )
            relay = OutboxRelay(store, transport, settings)
            target = 0

            async def run(n: int) -> None:
                nonlocal target
                target += n
                transport.broker.records.clear()
                while relay.relayed < target:
                    if not await relay.relay_once():
                        raise RuntimeError("durable-relay: the outbox ran dry")

            yield run
        finally:
            await store.close()


@asynccontextmanager
async def momentum_postgres() -> AsyncIterator[Run]:
    """``OutboxRelay`` on a ``PostgresStore`` (defaults) in a fresh schema."""
    async with postgres_schema("relay") as schema, _relay(postgres_store(schema)) as run:
        yield run


@asynccontextmanager
async def momentum_sqlite() -> AsyncIterator[Run]:
    """``OutboxRelay`` on a ``SqliteStore`` (defaults) in a temporary directory."""
    async with sqlite_directory() as path, _relay(sqlite_store(path / "relay.db")) as run:
        yield run


class _Drain:
    """Runs batches of a raw drain until ``n`` rows moved; the surplus counts for later."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.moved = 0
        self.target = 0

    async def run(self, n: int, batch: Any) -> None:
        self.target += n
        self.transport.broker.records.clear()
        while self.moved < self.target:
            records = await batch()
            if not records:
                raise RuntimeError("durable-relay: the raw outbox ran dry")
            await self.transport.publish_records(records)
            self.moved += len(records)


@asynccontextmanager
async def raw_postgres() -> AsyncIterator[Run]:
    """psycopg: ``UPDATE ... FOR UPDATE SKIP LOCKED ... RETURNING`` per batch, then publish."""
    import psycopg

    from momentum.runtime.store import OutgoingRecord

    async with postgres_schema("rawrelay") as schema, _transport() as transport:
        store = postgres_store(schema)  # the same table, indexes and rows as momentum's
        await store.open()
        try:
            await fill_outbox(store, _needed())
        finally:
            await store.close()
        query = (
            f'WITH batch AS (SELECT id FROM "{schema}".outbox'
            " WHERE sent_at IS NULL AND starts_with(destination, %s)"
            " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
            f' UPDATE "{schema}".outbox o SET sent_at = now() FROM batch WHERE o.id = batch.id'
            " RETURNING o.message_id, o.destination, o.key, o.header_names, o.header_values,"
            " o.body"
        )
        size = _batch_size()
        connection = await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True)
        drain = _Drain(transport)

        async def batch() -> list[Any]:
            cursor = await connection.execute(query, (TOPIC_PREFIX, size))
            return [
                OutgoingRecord(
                    row[0], row[1], row[2], list(zip(row[3], row[4], strict=True)), row[5]
                )
                for row in await cursor.fetchall()
            ]

        async def run(n: int) -> None:
            await drain.run(n, batch)

        try:
            yield run
        finally:
            await connection.close()


@asynccontextmanager
async def raw_sqlite() -> AsyncIterator[Run]:
    """sqlite3 on a thread: ``UPDATE ... LIMIT 500 ... RETURNING`` per batch, then publish."""
    from momentum.runtime.store import OutgoingRecord
    from momentum.sqlite.rows import decode_headers

    async with sqlite_directory() as path, _transport() as transport:
        file: Path = path / "raw.db"
        store = sqlite_store(file)  # the same table, indexes and rows as momentum's
        await store.open()
        try:
            await fill_outbox(store, _needed())
        finally:
            await store.close()
        connection = sqlite3.connect(file, isolation_level=None, check_same_thread=False)
        query = (
            "UPDATE outbox SET sent_at = ? WHERE id IN (SELECT id FROM outbox"
            " WHERE sent_at IS NULL AND substr(destination, 1, length(?)) = ?"
            " ORDER BY id LIMIT ?) RETURNING message_id, destination, key, headers, body"
        )
        size = _batch_size()
        drain = _Drain(transport)

        def claim() -> list[Any]:
            connection.execute("BEGIN IMMEDIATE")
            try:
                rows = connection.execute(
                    query, (time.time(), TOPIC_PREFIX, TOPIC_PREFIX, size)
                ).fetchall()
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return rows

        async def batch() -> list[Any]:
            rows = await asyncio.to_thread(claim)
            return [
                OutgoingRecord(row[0], row[1], row[2], decode_headers(row[3]), bytes(row[4]))
                for row in rows
            ]

        async def run(n: int) -> None:
            await drain.run(n, batch)

        try:
            yield run
        finally:
            connection.close()
