"""The store contract on PostgreSQL, one schema per test (several stores play processes)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest
from contract import StoreContract
from psycopg import sql
from store_support import MakeStore, add, record, wait_until

from momentum.contracts.errors import StoreError
from momentum.postgres import PostgresStore
from momentum.postgres.claims import unbroken_runs

pytestmark = pytest.mark.postgres


class TestPostgresStore(StoreContract):
    schema: str

    @pytest.fixture
    async def make_store(self, database_url: str, unique_name: str) -> AsyncIterator[MakeStore]:
        self.schema = unique_name
        stores: list[PostgresStore] = []

        async def make(clock: Callable[[], float] | None = None) -> PostgresStore:
            store = PostgresStore(
                database_url, schema=unique_name, clock=clock or time.time, max_size=4
            )
            stores.append(store)
            await store.open()
            return store

        yield make
        for store in stores:
            await store.close()
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(unique_name))
            )

    @pytest.fixture
    async def user_connection(
        self, database_url: str, make_store: MakeStore
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        await make_store()
        connection = await psycopg.AsyncConnection.connect(database_url)
        await connection.execute(self._sql("CREATE TABLE {}.business (value text)"))
        await connection.commit()
        yield connection
        await connection.close()

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(sql.Identifier(self.schema))

    async def begin(self, connection: psycopg.AsyncConnection[Any]) -> None:
        pass  # psycopg opens a transaction with the first statement (autocommit is off)

    async def commit(self, connection: psycopg.AsyncConnection[Any]) -> None:
        await connection.commit()

    async def rollback(self, connection: psycopg.AsyncConnection[Any]) -> None:
        await connection.rollback()

    async def insert_business(self, connection: psycopg.AsyncConnection[Any], value: str) -> None:
        await connection.execute(self._sql("INSERT INTO {}.business (value) VALUES (%s)"), (value,))

    async def business_count(self, connection: psycopg.AsyncConnection[Any]) -> int:
        cursor = await connection.execute(self._sql("SELECT count(*) FROM {}.business"))
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def set_schema_version(self, store: PostgresStore, version: int) -> None:
        async with store.transaction() as tx:
            await tx.connection.execute(
                self._sql("INSERT INTO {}.momentum_schema (version) VALUES (%s)"), (version,)
            )

    async def undo_version_2(self, store: PostgresStore) -> None:
        async with store.transaction() as tx:
            await tx.connection.execute(
                self._sql("ALTER TABLE {}.dead_letters DROP COLUMN consumer_group")
            )
            await tx.connection.execute(
                self._sql("DELETE FROM {}.momentum_schema WHERE version = 2")
            )

    async def undo_version_4(self, store: PostgresStore) -> None:
        async with store.transaction() as tx:
            await tx.connection.execute(self._sql("DROP TABLE {}.actor_states"))
            await tx.connection.execute(
                self._sql("DELETE FROM {}.momentum_schema WHERE version = 4")
            )

    async def undo_version_3(self, store: PostgresStore) -> None:
        async with store.transaction() as tx:
            for statement in (
                "ALTER TABLE {}.dead_letters DROP COLUMN raw_key",
                "DROP INDEX {}.dead_letters_type",
                "DROP INDEX {}.dead_letters_exception",
                "DELETE FROM {}.momentum_schema WHERE version = 3",
            ):
                await tx.connection.execute(self._sql(statement))
            await tx.connection.execute(
                self._sql(
                    "CREATE INDEX dead_letters_type ON {}.dead_letters"
                    " (message_type, exception_type)"
                )
            )

    # PostgreSQL only -------------------------------------------------------------------------

    async def test_unreachable_database_is_a_store_error_with_masked_password(self) -> None:
        url = "postgresql://momentum:s3cret-pw@127.0.0.1:1/postgres"
        with pytest.raises(StoreError) as caught:
            await PostgresStore(url, schema="nowhere", connect_timeout=2).open()
        message = str(caught.value)
        assert "postgresql://momentum:***@127.0.0.1:1/postgres" in message
        assert "s3cret-pw" not in message

    async def test_enlisting_refuses_autocommit_connection_outside_a_transaction(
        self, store: PostgresStore, database_url: str
    ) -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            with pytest.raises(StoreError, match="autocommit"):
                async with store.transaction(conn):
                    pass
            async with conn.transaction(), store.transaction(conn) as tx:
                await tx.add_outgoing([record(1)])
        assert len(await store.claim("", "relay", 10, 30)) == 1

    async def test_invalid_schema_name_is_refused(self, database_url: str) -> None:
        with pytest.raises(StoreError, match="schema name"):
            PostgresStore(database_url, schema="bad; drop")

    async def test_listener_reconnects_after_its_connection_is_killed(
        self, make_store: MakeStore, database_url: str
    ) -> None:
        import asyncio

        store = await make_store()
        writer = await make_store()
        listener = store.listener
        assert listener is not None and listener.backend_pid is not None
        killed = listener.backend_pid
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (killed,))
        await wait_until(
            lambda: listener.reconnects >= 1 and listener.backend_pid not in (None, killed)
        )
        assert await store.wait_for_work(0.05) is False
        started = time.monotonic()
        waiting = asyncio.create_task(store.wait_for_work(10))
        await asyncio.sleep(0)
        await add(writer, record(1))
        assert await asyncio.wait_for(waiting, 15) is True
        assert time.monotonic() - started < 5  # poll_interval is 30 s: this was the NOTIFY
        assert len(await store.claim("", "relay", 10, 30)) == 1

    async def _relay_backends(self, database_url: str) -> list[int]:
        """Server pids of this schema's store connections idle inside a transaction."""
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
            cursor = await c.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
                " AND state = 'idle in transaction'",
                (f"momentum:{self.schema}"[:63],),
            )
            return [row[0] for row in await cursor.fetchall()]

    async def test_rows_held_by_a_claim_whose_connection_dies_are_free_at_once(
        self, store: PostgresStore, make_store: MakeStore, database_url: str
    ) -> None:
        ids = await add(store, record(1, key="k"), record(2, key="k"))
        other = await make_store()
        with pytest.raises(StoreError):
            async with store.claimed("", "relay", 10, 30) as claimed:
                assert [m.id for m in claimed.rows] == ids
                assert await other.claim("", "other", 10, 30) == []
                (pid,) = await self._relay_backends(database_url)  # the relay "crashes"
                async with await psycopg.AsyncConnection.connect(
                    database_url, autocommit=True
                ) as admin:
                    await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                await claimed.complete(ids)  # its connection is gone: nothing is marked
        taken = await other.claim("", "other", 10, 30)  # no lease to wait for
        assert [(m.id, m.attempts) for m in taken] == [(ids[0], 0), (ids[1], 0)]

    async def test_a_claim_idle_longer_than_its_lease_is_disconnected(
        self, store: PostgresStore, make_store: MakeStore, database_url: str
    ) -> None:
        ids = await add(store, record(1, key="k"))
        other = await make_store()
        with pytest.raises(StoreError):
            async with store.claimed("", "hung", 10, 0.2) as claimed:  # hangs while publishing
                assert [m.id for m in claimed.rows] == ids
                deadline = time.monotonic() + 20
                while await self._relay_backends(database_url):  # until the server ends it
                    assert time.monotonic() < deadline, "idle session never terminated"
                await claimed.complete(ids)
        assert [m.id for m in await other.claim("", "other", 10, 30)] == ids

    async def test_driver_errors_become_store_errors(self, store: PostgresStore) -> None:
        with pytest.raises(StoreError, match="a transaction failed"):
            async with store.transaction() as tx:
                await tx.connection.execute("SELECT * FROM no_such_table")


def test_a_claim_keeps_each_stream_up_to_its_first_row_not_locked() -> None:
    # (id, destination, key, False) per picked row, (id, None, None, True) per locked row
    picked = [(1, "t", "a"), (2, "t", "b"), (3, "t", "a"), (4, "t", None), (5, "t", "a")]
    locked = [1, 2, 5]  # 3 (stream a) is held elsewhere, 4 (unkeyed) too
    plan = [(i, d, k, False) for i, d, k in picked] + [(i, None, None, True) for i in locked]
    assert unbroken_runs(plan) == [1, 2]  # 5 must not overtake 3; 4 blocks nothing
    plan = [(i, d, k, False) for i, d, k in picked] + [(i, None, None, True) for i in range(1, 6)]
    assert unbroken_runs(list(reversed(plan))) == [1, 2, 3, 4, 5]
