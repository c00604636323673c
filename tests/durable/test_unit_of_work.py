"""Enlisting the caller's unit of work on PostgreSQL: psycopg and SQLAlchemy.

The business row and the outbox row commit or roll back together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
from momentum_fixture_bus.shipping.integration_events import ParcelShipped
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from momentum import Service
from momentum.postgres import PostgresStore
from momentum.testing import InMemoryBroker, tracked


@pytest.fixture
async def schema(database_url: str, unique_name: str) -> AsyncIterator[str]:
    name = unique_name.replace("-", "_")
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(f"CREATE SCHEMA {name}")
        await conn.execute(f"CREATE TABLE {name}.parcels (seq int)")
    yield name
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
async def services(
    database_url: str, schema: str
) -> AsyncIterator[tuple[Service, list[int], InMemoryBroker]]:
    broker = InMemoryBroker()
    seen: list[int] = []

    async def on_parcel(event: ParcelShipped) -> None:
        seen.append(event.seq)

    warehouse = Service(
        "warehouse",
        "Logistics",
        transport=broker.transport(),
        store=PostgresStore(database_url, schema=f"{schema}_outbox"),
    )
    tracking = Service("tracking", "Logistics", transport=broker.transport())
    tracking.add_handler(on_parcel)
    async with warehouse, tracking, tracked(warehouse, tracking):
        yield warehouse, seen, broker
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema}_outbox CASCADE")


async def count(database_url: str, schema: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        row = await (await conn.execute(f"SELECT count(*) FROM {schema}.parcels")).fetchone()
    assert row is not None
    return int(row[0])


async def test_psycopg_transaction_commits_business_row_and_event_together(
    services: tuple[Service, list[int], InMemoryBroker], database_url: str, schema: str
) -> None:
    warehouse, seen, broker = services
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {schema}.parcels VALUES (1)")
                async with warehouse.bus.transaction(conn):
                    await warehouse.bus.publish(ParcelShipped("north", 1))
                raise RuntimeError("business rule failed after publishing")
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {schema}.parcels VALUES (2)")
            async with warehouse.bus.transaction(conn):
                await warehouse.bus.publish(ParcelShipped("north", 2))
    await warehouse.runtime.wait_idle()
    await broker.pending.wait_idle()
    assert await count(database_url, schema) == 1
    assert [e.message.seq for _, e in broker.published] == [2]
    assert seen == [2]


async def test_sqlalchemy_session_commits_business_row_and_event_together(
    services: tuple[Service, list[int], InMemoryBroker], database_url: str, schema: str
) -> None:
    warehouse, seen, broker = services
    engine = create_async_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        async with AsyncSession(engine) as session:
            await session.execute(text(f"INSERT INTO {schema}.parcels VALUES (1)"))
            async with warehouse.bus.transaction(session):
                await warehouse.bus.publish(ParcelShipped("south", 1))
            await session.rollback()
            await session.execute(text(f"INSERT INTO {schema}.parcels VALUES (2)"))
            async with warehouse.bus.transaction(session):
                await warehouse.bus.publish(ParcelShipped("south", 2))
            await session.commit()
    finally:
        await engine.dispose()
    await warehouse.runtime.wait_idle()
    await broker.pending.wait_idle()
    assert await count(database_url, schema) == 1
    assert [e.message.seq for _, e in broker.published] == [2]
    assert seen == [2]
