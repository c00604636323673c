"""Durable messaging tests: services with a real store (SQLite file or PostgreSQL schema)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parents[1] / "runtime" / "fixtures"
if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))

from momentum.runtime.store import MessageStore  # noqa: E402

MakeStore = Callable[[str], MessageStore]
"""``make_store(service_name)``: that service's store on a fresh database (same name: shared)."""


@pytest.fixture(params=["sqlite", "postgres"])
async def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[MakeStore]:
    """A factory of stores on one fresh database (several stores = several processes)."""
    made: list[Any] = []
    if request.param == "sqlite":
        from momentum.sqlite import SqliteStore

        def make(name: str) -> MessageStore:
            store = SqliteStore(tmp_path / f"{name}.db", poll_interval=0.05)
            made.append(store)
            return store
    else:
        database_url = request.getfixturevalue("database_url")
        from momentum.postgres import PostgresStore

        schemas: set[str] = set()

        def make(name: str) -> MessageStore:
            schema = f"{unique_name}_{name}".replace("-", "_")[:63]
            schemas.add(schema)
            store = PostgresStore(database_url, schema=schema, poll_interval=1.0)
            made.append(store)
            return store

    yield make
    for store in made:
        await store.close()
    if request.param == "postgres":
        import psycopg

        async with await psycopg.AsyncConnection.connect(
            request.getfixturevalue("database_url"), autocommit=True
        ) as conn:
            for schema in schemas:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
