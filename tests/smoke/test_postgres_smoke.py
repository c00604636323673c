"""Smoke test: the PostgreSQL from `scripts/services up` answers, and DDL is transactional."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from psycopg.pq import TransactionStatus

pytestmark = pytest.mark.postgres


async def _table_exists(connection: psycopg.AsyncConnection, name: str) -> bool:
    cursor = await connection.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    row = await cursor.fetchone()
    assert row is not None
    return bool(row[0])


async def test_rollback_undoes_table_and_rows(database_url: str, unique_name: str) -> None:
    table = sql.Identifier(unique_name)
    rows = [(1, "ada"), (2, "grace"), (3, "barbara")]
    async with (
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as observer,
    ):
        async with connection.transaction(force_rollback=True):
            await connection.execute(
                sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, name text NOT NULL)").format(
                    table
                )
            )
            async with connection.cursor() as cursor:
                await cursor.executemany(
                    sql.SQL("INSERT INTO {} (id, name) VALUES (%s, %s)").format(table), rows
                )
                await cursor.execute(sql.SQL("SELECT id, name FROM {} ORDER BY id").format(table))
                assert await cursor.fetchall() == rows
            assert connection.info.transaction_status == TransactionStatus.INTRANS
            assert await _table_exists(connection, unique_name)
            assert not await _table_exists(observer, unique_name), "uncommitted DDL is visible"

        assert connection.info.transaction_status == TransactionStatus.IDLE
        assert not await _table_exists(connection, unique_name)
        assert not await _table_exists(observer, unique_name)
