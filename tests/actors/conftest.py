"""Actor tests: services with a real store (SQLite file or PostgreSQL schema) or none."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from momentum.runtime.store import MessageStore

MakeStore = Callable[[str], MessageStore]
"""``make_store(name)``: a store on a fresh database (one name: one database, shared)."""


@pytest.fixture(params=["sqlite", "postgres"])
async def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[MakeStore]:
    """A factory of stores on fresh databases (several stores of one name = processes)."""
    made: list[Any] = []
    schemas: set[str] = set()
    if request.param == "sqlite":
        from momentum.sqlite import SqliteStore

        def make(name: str) -> MessageStore:
            store = SqliteStore(tmp_path / f"{name}.db", poll_interval=0.05)
            made.append(store)
            return store
    else:
        database_url = request.getfixturevalue("database_url")
        from momentum.postgres import PostgresStore

        def make(name: str) -> MessageStore:
            schema = f"{unique_name}_{name}".replace("-", "_")[:63]
            schemas.add(schema)
            store = PostgresStore(database_url, schema=schema, poll_interval=0.5)
            made.append(store)
            return store

    yield make
    for store in made:
        await store.close()
    if schemas:
        import psycopg

        async with await psycopg.AsyncConnection.connect(
            request.getfixturevalue("database_url"), autocommit=True
        ) as conn:
            for schema in schemas:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
