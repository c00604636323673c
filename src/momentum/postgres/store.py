"""The PostgreSQL message store: psycopg 3 async, a connection pool and LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection, pq, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from momentum.contracts.errors import StoreError
from momentum.postgres import queries, rows
from momentum.postgres.claims import LockedRows, unbroken_runs
from momentum.postgres.listener import NotifyListener
from momentum.postgres.schema import migrate
from momentum.postgres.transaction import PostgresTransaction, translated
from momentum.runtime.actor_states import ActorState, decode_reminders
from momentum.runtime.store import (
    DeadLetter,
    DeadLetterFilter,
    InboxKey,
    PurgeCounts,
    StoredMessage,
    StoreStats,
    WakeSignal,
    mask_url,
    shielded,
)

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_RECHECK = 0.05
"""Shortest time between two checks for due rows within one ``wait_for_work``."""


async def driver_connection(connection: Any) -> Any:
    """The psycopg connection under a SQLAlchemy ``AsyncSession``/``AsyncConnection``.

    Anything else is returned as given. Duck-typed: SQLAlchemy is not a dependency.
    """
    if type(connection).__name__ == "AsyncSession" and hasattr(connection, "connection"):
        connection = await connection.connection()
    if hasattr(connection, "get_raw_connection"):
        raw = await connection.get_raw_connection()
        connection = getattr(raw, "driver_connection", raw)
    return connection


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel of ``schema`` (at most 63 bytes, PostgreSQL's limit)."""
    channel = f"momentum.{schema}"
    if len(channel.encode()) <= 63:
        return channel
    digest = hashlib.sha1(schema.encode()).hexdigest()[:12]
    return f"momentum.{schema[:40]}.{digest}"


class PostgresStore:
    """A :class:`momentum.runtime.store.MessageStore` in one PostgreSQL schema per service.

    Args:
        url: ``postgresql://`` URL or libpq connection string.
        schema: The service's schema, created when missing.
        min_size: Pool connections kept open.
        max_size: Pool connections at most.
        connect_timeout: Seconds to wait for the database at open.
        poll_interval: Longest wait between checks for due work, as a safety net behind
            LISTEN/NOTIFY.
        clock: Source of the current time (POSIX seconds); injectable for tests.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str = "momentum",
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
        poll_interval: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise StoreError(f"invalid PostgreSQL schema name {schema!r}")
        self._url = url
        self._display = mask_url(url)
        self._schema = schema
        self._where = f"PostgreSQL {self._display} (schema {schema})"
        self._channel = notify_channel(schema)
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._poll_interval = poll_interval
        self._clock = clock
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._listener: NotifyListener | None = None
        self._work = WakeSignal()
        self._s = sql.Identifier(schema)

    @property
    def schema(self) -> str:
        """The schema holding the store's tables."""
        return self._schema

    @property
    def listener(self) -> NotifyListener | None:
        """The LISTEN connection's manager while open (diagnostics)."""
        return self._listener

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self._s)

    def _now(self) -> float:
        """The clock at the database's precision (microseconds), so comparisons agree."""
        return rows.to_datetime(self._clock()).timestamp()

    def _connection_error(self, exc: BaseException) -> StoreError:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        with contextlib.suppress(psycopg.Error):
            password = conninfo_to_dict(self._url).get("password")
            if password:
                detail = detail.replace(str(password), "***")
        return StoreError(f"cannot connect to {self._where}: {detail}")

    async def open(self) -> None:
        """Connect, migrate the schema, start the pool and the LISTEN connection."""
        if self._pool is not None:
            return
        name = f"momentum:{self._schema}"[:63]
        timeout = max(1, round(self._connect_timeout))
        try:
            async with await AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=timeout, application_name=name
            ) as connection:
                with translated("migrating the schema", self._where):
                    await migrate(connection, self._schema)
        except psycopg.OperationalError as exc:
            raise self._connection_error(exc) from None
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            self._url,
            min_size=self._min_size,
            max_size=self._max_size,
            kwargs={"autocommit": True, "application_name": name},
            open=False,
        )
        listener = NotifyListener(
            self._url,
            self._channel,
            self._work.set,
            display_url=self._display,
            connect_timeout=self._connect_timeout,
            application_name=f"momentum-listen:{self._schema}"[:63],
        )
        try:
            await pool.open(wait=True, timeout=self._connect_timeout)
            await listener.start()
        except (psycopg.Error, PoolTimeout) as exc:
            await pool.close()
            raise self._connection_error(exc) from None
        self._pool, self._listener = pool, listener

    async def drop_schema(self) -> None:
        """Delete the schema with every table and row in it (demos, tests); irreversible."""
        try:
            async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(self._s))
        except psycopg.Error as exc:
            raise self._connection_error(exc) from exc

    async def close(self) -> None:
        """Stop the listener and close the pool; idempotent."""
        listener, pool = self._listener, self._pool
        self._listener = self._pool = None
        if listener is not None:
            await listener.stop()
        if pool is not None:
            await pool.close()

    def _require_pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        if self._pool is None:
            raise StoreError(f"the store on {self._where} is not open; call open() first")
        return self._pool

    @asynccontextmanager
    async def transaction(
        self, connection: AsyncConnection[Any] | None = None
    ) -> AsyncIterator[PostgresTransaction]:
        """A transaction; with ``connection`` given, enlist in the caller's transaction.

        ``connection`` is a psycopg ``AsyncConnection``, or a SQLAlchemy ``AsyncSession`` /
        ``AsyncConnection`` on the psycopg dialect (``postgresql+psycopg://``), whose
        psycopg connection is used.
        """
        if connection is not None:
            connection = await driver_connection(connection)
            self._check_enlistable(connection)
            yield PostgresTransaction(
                connection, self._schema, self._channel, self._clock, self._where
            )
            return
        pool = self._require_pool()
        with translated("a transaction", self._where):
            async with pool.connection() as conn, conn.transaction():
                yield PostgresTransaction(
                    conn, self._schema, self._channel, self._clock, self._where
                )

    def _check_enlistable(self, connection: object) -> None:
        if not isinstance(connection, AsyncConnection):
            raise StoreError(
                f"PostgresStore can enlist only in a psycopg.AsyncConnection, "
                f"not {type(connection).__name__}"
            )
        idle = connection.info.transaction_status == pq.TransactionStatus.IDLE
        if connection.autocommit and idle:
            raise StoreError(
                "the given connection is in autocommit mode outside a transaction; open one "
                "with `async with connection.transaction():` so the outbox rows commit with it"
            )

    async def claim(
        self, destination_prefix: str, owner: str, limit: int, lease_seconds: float
    ) -> list[StoredMessage]:
        """Lease due rows, oldest first, keeping each stream in order (see the port)."""
        if limit <= 0:
            return []
        now = self._now()
        async with (
            self._connection("claiming outgoing messages") as conn,
            conn.pipeline(),  # BEGIN, the settings and the plan in one round trip
            conn.transaction(),
        ):
            ids = await self._pick(conn, destination_prefix, limit, now)
            if not ids:
                return []
            cursor = await conn.execute(
                self._q(
                    f"UPDATE {{s}}.outbox SET owner = %s, lease_until = %s WHERE id = ANY(%s)"
                    f" RETURNING {rows.OUTBOX_COLUMNS}"
                ),
                (owner, rows.to_datetime(now + lease_seconds), ids),
                binary=True,  # bytea and timestamps decode faster than from text
            )
            claimed = [rows.stored_message(row) for row in await cursor.fetchall()]
        claimed.sort(key=lambda message: message.id)
        return claimed

    @asynccontextmanager
    async def _connection(self, action: str) -> AsyncIterator[AsyncConnection[Any]]:
        pool = self._require_pool()
        with translated(action, self._where):
            async with pool.connection() as conn:
                yield conn

    @asynccontextmanager
    async def claimed(
        self, destination_prefix: str, owner: str, limit: int, lease_seconds: float
    ) -> AsyncIterator[LockedRows]:
        """Rows picked as :meth:`claim` picks them, held by row locks until the block ends.

        Nothing is written to claim them: the transaction that locked them stays open while
        the block runs and commits what the block settled. Another relay skips the rows (and
        what follows them in their streams). A holder that dies frees them at once; one idle
        in the transaction longer than ``lease_seconds`` is disconnected by the server.
        """
        idle_limit = str(max(1, round(lease_seconds * 1000)))
        async with (
            self._connection("claiming outgoing messages") as conn,
            conn.transaction(),
        ):
            async with conn.pipeline():  # BEGIN, the settings and the plan in one round trip
                await conn.execute(queries.IDLE_LIMIT, (idle_limit,))
                ids = await self._pick(conn, destination_prefix, max(limit, 1), self._now())
            found: list[StoredMessage] = []
            if ids:
                cursor = await conn.execute(
                    self._q(
                        f"SELECT {rows.OUTBOX_COLUMNS} FROM {{s}}.outbox"
                        " WHERE id = ANY(%s) ORDER BY id"
                    ),
                    (ids,),
                    binary=True,
                )
                found = [rows.stored_message(row) for row in await cursor.fetchall()]
            held = LockedRows(
                PostgresTransaction(conn, self._schema, self._channel, self._clock, self._where),
                owner,
                found,
            )
            yield held
        if held.released:
            self._work.set()  # rows due again later: waiters recompute their next due time

    async def _pick(
        self, conn: AsyncConnection[Any], destination_prefix: str, limit: int, now: float
    ) -> list[int]:
        """Run the claim plan in ``conn``'s transaction: the ids picked and locked, in order."""
        plan = {
            "prefix": destination_prefix,
            "now": rows.to_datetime(now),
            "limit": limit,
            "window": max(limit * queries.HEAD_WINDOW_FACTOR, 1000),
        }
        await conn.execute(queries.CLAIM_SETTINGS)
        cursor = await conn.execute(self._q(queries.CLAIM_PLAN), plan)
        return unbroken_runs(await cursor.fetchall())

    async def complete(self, ids: Sequence[int]) -> None:
        """Mark rows as sent."""
        if not ids:
            return
        async with self._connection("completing outgoing messages") as conn:
            await conn.execute(
                self._q(
                    "UPDATE {s}.outbox o SET sent_at = %s, owner = NULL, lease_until = NULL"
                    " FROM (SELECT id FROM {s}.outbox WHERE id = ANY(%s) AND sent_at IS NULL"
                    " ORDER BY id FOR UPDATE) l WHERE o.id = l.id"
                ),
                (rows.to_datetime(self._clock()), list(ids)),
            )

    async def release(
        self,
        ids: Sequence[int],
        *,
        owner: str,
        available_at: float | None = None,
        error: str | None = None,
    ) -> int:
        """Unlease rows still leased by ``owner``, counting an attempt; returns how many."""
        if not ids:
            return 0
        due = rows.to_datetime(available_at) if available_at is not None else None
        async with self._connection("releasing outgoing messages") as conn:
            cursor = await conn.execute(
                self._q(
                    "UPDATE {s}.outbox o SET owner = NULL, lease_until = NULL,"
                    " attempts = o.attempts + 1, last_error = coalesce(%s, o.last_error),"
                    " available_at = coalesce(%s, o.available_at), scheduled = false"
                    " FROM (SELECT id FROM {s}.outbox WHERE id = ANY(%s) AND owner = %s"
                    " AND sent_at IS NULL ORDER BY id FOR UPDATE) l WHERE o.id = l.id"
                ),
                (error, due, list(ids), owner),
            )
            return cursor.rowcount

    async def extend_lease(self, ids: Sequence[int], *, owner: str, lease_seconds: float) -> int:
        """Renew the lease of unsent rows still leased by ``owner``; returns how many."""
        if not ids:
            return 0
        async with self._connection("renewing leases of outgoing messages") as conn:
            cursor = await conn.execute(
                self._q(
                    "UPDATE {s}.outbox SET lease_until = %s"
                    " WHERE id = ANY(%s) AND owner = %s AND sent_at IS NULL"
                ),
                (rows.to_datetime(self._clock() + lease_seconds), list(ids), owner),
            )
            return cursor.rowcount

    async def purge(self, sent_before: float, inbox_before: float) -> PurgeCounts:
        """Delete sent outbox rows and inbox rows older than the given times."""
        async with self._connection("purging") as conn, conn.transaction():
            outbox = await conn.execute(
                self._q("DELETE FROM {s}.outbox WHERE sent_at < %s"),
                (rows.to_datetime(sent_before),),
            )
            inbox = await conn.execute(
                self._q("DELETE FROM {s}.inbox WHERE recorded_at < %s"),
                (rows.to_datetime(inbox_before),),
            )
            return PurgeCounts(outbox=outbox.rowcount, inbox=inbox.rowcount)

    async def dead_letters(self, where: DeadLetterFilter | None = None) -> list[DeadLetter]:
        """List dead letters, oldest first."""
        condition, params = queries.dead_letter_filter(where)
        limit = (
            sql.SQL(" LIMIT {}").format(sql.Literal(int(where.limit)))
            if where and where.limit
            else sql.SQL("")
        )
        query = sql.SQL("SELECT {} FROM {}.dead_letters{} ORDER BY id{}").format(
            sql.SQL(rows.DEAD_LETTER_COLUMNS), self._s, condition, limit
        )
        async with self._connection("listing dead letters") as conn:
            cursor = await conn.execute(query, params)
            return [rows.dead_letter(row) for row in await cursor.fetchall()]

    async def purge_dead_letters(self, where: DeadLetterFilter | None = None) -> int:
        """Delete the selected dead letters; returns how many."""
        condition, params = queries.dead_letter_filter(where)
        query = sql.SQL("DELETE FROM {}.dead_letters{}").format(self._s, condition)
        if where is not None and where.limit:  # the oldest ``limit`` of the selection
            query = sql.SQL(
                "DELETE FROM {s}.dead_letters WHERE id IN"
                " (SELECT id FROM {s}.dead_letters{c} ORDER BY id LIMIT {n})"
            ).format(s=self._s, c=condition, n=sql.Literal(int(where.limit)))
        async with self._connection("purging dead letters") as conn:
            cursor = await conn.execute(query, params)
            return cursor.rowcount

    async def inbox_recorded(self, keys: Sequence[InboxKey]) -> set[InboxKey]:
        """Which of ``keys`` (message id, handler) are committed in the inbox."""
        if not keys:
            return set()
        wanted = set(keys)
        async with self._connection("reading the inbox") as conn:
            cursor = await conn.execute(
                self._q("SELECT message_id, handler FROM {s}.inbox WHERE message_id = ANY(%s)"),
                (list({message_id for message_id, _ in keys}),),
            )
            found = await cursor.fetchall()
        return {key for row in found if (key := (row[0], row[1])) in wanted}

    async def load_actor_states(
        self, actor_type: str, keys: Sequence[str]
    ) -> dict[str, ActorState]:
        """The stored states of the actors of ``actor_type`` with ``keys``."""
        if not keys:
            return {}
        async with self._connection("loading actor states") as conn:
            cursor = await conn.execute(
                self._q(
                    "SELECT actor_key, version, state, reminders, updated_at"
                    " FROM {s}.actor_states WHERE actor_type = %s AND actor_key = ANY(%s)"
                ),
                (actor_type, list(keys)),
            )
            found = await cursor.fetchall()
        return {
            row[0]: ActorState(
                actor_type,
                row[0],
                row[1],
                bytes(row[2]),
                decode_reminders(row[3]),
                row[4].timestamp(),
            )
            for row in found
        }

    async def stats(self) -> StoreStats:
        """Backlog, age of the oldest due row, dead letters and inbox size."""
        now = self._clock()
        async with self._connection("reading statistics") as conn:
            cursor = await conn.execute(
                self._q(
                    "SELECT (SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL),"
                    " (SELECT min(available_at) FROM {s}.outbox"
                    "  WHERE sent_at IS NULL AND available_at <= %s),"
                    " (SELECT count(*) FROM {s}.dead_letters),"
                    " (SELECT count(*) FROM {s}.inbox)"
                ),
                (rows.to_datetime(now),),
            )
            row = await cursor.fetchone()
        assert row is not None
        oldest = rows.to_timestamp(row[1])
        return StoreStats(
            backlog=row[0],
            oldest_pending_age_seconds=max(0.0, now - oldest) if oldest is not None else 0.0,
            dead_letters=row[2],
            inbox_size=row[3],
        )

    async def wait_for_work(self, max_wait: float, *, destination_prefix: str = "") -> bool:
        """Wait for a commit notification, a due row or an expired lease (see the port)."""
        deadline = time.monotonic() + max_wait
        while True:
            ticket = self._work.ticket()  # a notification from now on wakes the wait below
            now = self._now()
            # shielded: a caller giving up (a relay woken otherwise) must not cancel a query
            due = await shielded(self._next_due(destination_prefix, now))
            if due is not None and due <= now:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            wait = min(remaining, self._poll_interval)
            if due is not None:
                wait = min(wait, max(due - now, 0.001))
            checked = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ticket.wait(), wait)
            # Notifications can arrive faster than work becomes claimable (streams held by
            # other relays): look at most every `_RECHECK` seconds, the check scans the backlog.
            pause = min(_RECHECK - (time.monotonic() - checked), deadline - time.monotonic())
            if pause > 0 and ticket.is_set():
                await asyncio.sleep(pause)

    async def _next_due(self, prefix: str, now: float) -> float | None:
        async with self._connection("checking for due messages") as conn:
            cursor = await conn.execute(
                self._q(queries.NEXT_DUE), {"prefix": prefix, "now": rows.to_datetime(now)}
            )
            row = await cursor.fetchone()
        return rows.to_timestamp(row[0]) if row else None
