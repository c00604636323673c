"""The store contract on SQLite files (several stores on one file play several processes)."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from contract import StoreContract
from store_support import Clock, MakeStore, add, record

from momentum.contracts.errors import StoreError
from momentum.sqlite import SqliteStore, sqlite_path


class TestSqliteStore(StoreContract):
    fair_write_lock = False

    @pytest.fixture
    def path(self, tmp_path: Path) -> Path:
        return tmp_path / "data" / "momentum.db"

    @pytest.fixture
    async def make_store(self, path: Path) -> AsyncIterator[MakeStore]:
        stores: list[SqliteStore] = []

        async def make(clock: Callable[[], float] | None = None) -> SqliteStore:
            store = SqliteStore(path, clock=clock or time.time, poll_interval=0.05)
            stores.append(store)
            await store.open()
            return store

        yield make
        for store in stores:
            await store.close()

    @pytest.fixture
    async def user_connection(
        self, path: Path, make_store: MakeStore
    ) -> AsyncIterator[aiosqlite.Connection]:
        await make_store()
        connection = await aiosqlite.connect(path, isolation_level=None)
        await connection.execute("PRAGMA busy_timeout = 10000")
        await connection.execute("CREATE TABLE IF NOT EXISTS business (value TEXT)")
        yield connection
        await connection.close()

    async def begin(self, connection: aiosqlite.Connection) -> None:
        await connection.execute("BEGIN")

    async def commit(self, connection: aiosqlite.Connection) -> None:
        await connection.execute("COMMIT")

    async def rollback(self, connection: aiosqlite.Connection) -> None:
        await connection.execute("ROLLBACK")

    async def insert_business(self, connection: aiosqlite.Connection, value: str) -> None:
        await connection.execute("INSERT INTO business (value) VALUES (?)", (value,))

    async def business_count(self, connection: aiosqlite.Connection) -> int:
        async with connection.execute("SELECT count(*) FROM business") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def set_schema_version(self, store: SqliteStore, version: int) -> None:
        async with aiosqlite.connect(store.path) as connection:
            await connection.execute("INSERT INTO momentum_schema (version) VALUES (?)", (version,))
            await connection.commit()

    async def undo_version_2(self, store: SqliteStore) -> None:
        async with aiosqlite.connect(store.path) as connection:
            await connection.execute("ALTER TABLE dead_letters DROP COLUMN consumer_group")
            await connection.execute("DELETE FROM momentum_schema WHERE version = 2")
            await connection.commit()

    async def undo_version_4(self, store: SqliteStore) -> None:
        async with aiosqlite.connect(store.path) as connection:
            await connection.execute("DROP TABLE actor_states")
            await connection.execute("DELETE FROM momentum_schema WHERE version = 4")
            await connection.commit()

    async def undo_version_3(self, store: SqliteStore) -> None:
        async with aiosqlite.connect(store.path) as connection:
            await connection.execute("ALTER TABLE dead_letters DROP COLUMN raw_key")
            await connection.execute("DELETE FROM momentum_schema WHERE version = 3")
            await connection.commit()

    # SQLite only -----------------------------------------------------------------------------

    async def test_file_is_in_wal_mode(self, store: SqliteStore) -> None:
        async with (
            aiosqlite.connect(store.path) as connection,
            connection.execute("PRAGMA journal_mode") as cursor,
        ):
            assert await cursor.fetchone() == ("wal",)

    async def test_enlisting_refuses_autocommit_connection_outside_a_transaction(
        self, store: SqliteStore, user_connection: aiosqlite.Connection
    ) -> None:
        with pytest.raises(StoreError, match="autocommit"):
            async with store.transaction(user_connection):
                pass
        with pytest.raises(StoreError, match=r"aiosqlite\.Connection"):
            async with store.transaction(object()):
                pass

    async def test_legacy_transaction_mode_connection_is_enlisted(
        self, store: SqliteStore, path: Path, clock: Clock
    ) -> None:
        async with aiosqlite.connect(path) as connection:  # implicit BEGIN before writes
            async with store.transaction(connection) as tx:
                await tx.add_outgoing([record(1)])
            await connection.commit()
        assert len(await store.claim("", "relay", 10, 30)) == 1

    async def test_unwritable_location_is_a_store_error(self, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("not a directory")
        with pytest.raises(StoreError, match="cannot open SQLite"):
            await SqliteStore(blocker / "momentum.db").open()

    async def test_store_call_inside_its_own_transaction_fails_fast(
        self, store: SqliteStore
    ) -> None:
        async with store.transaction() as tx:
            await tx.add_outgoing([record(1)])
            with pytest.raises(StoreError, match="inside a transaction of the same store"):
                await store.stats()
        assert (await store.stats()).backlog == 1

    async def test_relay_processes_share_one_file_without_duplicates_or_reordering(
        self, store: SqliteStore, path: Path, tmp_path: Path
    ) -> None:
        rng = random.Random(5)
        total = 300
        for start in range(0, total, 50):
            await add(
                store, *(record(n, key=rng.choice("abcdef")) for n in range(start, start + 50))
            )
        log = tmp_path / "published.log"
        script = Path(__file__).with_name("sqlite_relay_process.py")
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable, str(script), str(path), str(log), f"p{i}"
            )
            for i in range(3)
        ]
        codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in processes)), 90)
        assert codes == [0, 0, 0]
        lines = [line.split() for line in log.read_text().splitlines()]
        ids = [int(row_id) for row_id, _, _ in lines]
        assert sorted(ids) == sorted(set(ids)) and len(ids) == total  # each row exactly once
        per_key: dict[str, list[int]] = defaultdict(list)
        for row_id, key, _ in lines:
            per_key[key].append(int(row_id))
        for key, order in per_key.items():
            assert order == sorted(order), f"stream {key} published out of order"
        assert (await store.stats()).backlog == 0

    def test_url_forms(self) -> None:
        assert sqlite_path("sqlite:///data/m.db") == "data/m.db"
        assert sqlite_path("sqlite:////var/m.db") == "/var/m.db"
        assert sqlite_path(Path("/tmp/m.db")) == "/tmp/m.db"

    async def test_ids_returned_by_add_match_the_rows(self, store: Any) -> None:
        ids = await add(store, *(record(n) for n in range(5)))
        claimed = await store.claim("", "relay", 10, 30)
        assert [(m.id, m.record.message_id) for m in claimed] == [
            (i, f"m-{n}") for n, i in enumerate(ids)
        ]
