"""The SQLite message store: one file in WAL mode, shared by the processes of one host."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from momentum.contracts.errors import StoreError
from momentum.runtime.actor_states import ActorState, decode_reminders
from momentum.runtime.store import (
    DeadLetter,
    DeadLetterFilter,
    InboxKey,
    LeasedRows,
    PurgeCounts,
    StoredMessage,
    StoreStats,
    WakeSignal,
    shielded,
)
from momentum.sqlite import rows
from momentum.sqlite.schema import MIN_SQLITE_VERSION, migrate
from momentum.sqlite.transaction import INBOX_CHUNK, SqliteTransaction, translated

# A stream's head: an unsent row with no older unsent row in its stream (destination, key).
# A scheduled row that is not due yet has not joined its stream, so it holds nothing back.
_NO_OLDER_PENDING = """(o.key IS NULL OR NOT EXISTS (
    SELECT 1 FROM outbox p
    WHERE p.destination = o.destination AND p.key = o.key AND p.id < o.id
      AND p.sent_at IS NULL AND (p.scheduled = 0 OR p.available_at <= :now)))"""
_PREFIX = "substr(o.destination, 1, length(:prefix)) = :prefix"

# A claim looks at a window of pending rows in id order, from the oldest claimable row (the
# rows before it are all leased or not due): only a stream's first row in the window can be
# its head (probed against the stream index), its followers are the unbroken run of free rows
# behind it. Heads come first, then followers, oldest first. Without a window every claim
# probed every unsent row for heads, so a claim cost grew with the backlog. Claims hold the
# file's write lock (BEGIN IMMEDIATE), so what the window shows cannot change under them.
_STREAM = "destination, key, CASE WHEN key IS NULL THEN id END"
_CLAIM = f"""WITH w AS MATERIALIZED (
    SELECT o.id, o.destination, o.key,
        o.available_at <= :now AND (o.lease_until IS NULL OR o.lease_until <= :now) AS free
    FROM outbox o
    WHERE o.sent_at IS NULL AND {_PREFIX} AND (o.scheduled = 0 OR o.available_at <= :now)
      AND o.id >= (
        SELECT o.id FROM outbox o
        WHERE o.sent_at IS NULL AND {_PREFIX}
          AND o.available_at <= :now AND (o.lease_until IS NULL OR o.lease_until <= :now)
        ORDER BY o.id LIMIT 1)
    ORDER BY o.id LIMIT :window),
runs AS (
    SELECT id, destination, key, first_value(id) OVER st AS first, min(free) OVER st AS clear
    FROM w WINDOW st AS (PARTITION BY {_STREAM} ORDER BY id)),
probed AS (
    SELECT r.*, CASE WHEN r.id <> r.first OR NOT r.clear THEN 0
        WHEN r.key IS NULL THEN 1
        ELSE r.id = (
            SELECT p.id FROM outbox p
            WHERE p.destination = r.destination AND p.key = r.key AND p.sent_at IS NULL
              AND (p.scheduled = 0 OR p.available_at <= :now)
            ORDER BY p.id LIMIT 1) END AS head
    FROM runs r),
streams AS (
    SELECT id, first, clear, max(head) OVER (PARTITION BY {_STREAM}) AS open FROM probed)
SELECT id FROM streams WHERE clear AND open ORDER BY id <> first, id LIMIT :limit"""

_WINDOW_FACTOR = 2
"""The window holds ``limit * _WINDOW_FACTOR`` (at least 1,000) pending rows."""

_NEXT_DUE = f"""SELECT min(max(o.available_at, coalesce(o.lease_until, o.available_at)))
FROM outbox o WHERE o.sent_at IS NULL AND {_PREFIX} AND {_NO_OLDER_PENDING}"""


def sqlite_path(url_or_path: str | Path) -> str:
    """The file path of ``sqlite:///relative``, ``sqlite:////absolute`` or a plain path."""
    text = str(url_or_path)
    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://")
        text = text[1:] if text.startswith("/") else text
    return text


class SqliteStore:
    """A :class:`momentum.runtime.store.MessageStore` in one SQLite file.

    Writes take the file's write lock (``BEGIN IMMEDIATE``), so claims are serialized across
    the processes sharing the file; leases still matter, since a relay may crash holding some.

    Args:
        path: File path or ``sqlite:///path`` URL; created when missing.
        busy_timeout: Seconds to wait for another process's write lock.
        poll_interval: Seconds between checks for rows committed by other processes.
        clock: Source of the current time (POSIX seconds); injectable for tests.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 10.0,
        poll_interval: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = sqlite_path(path)
        self._where = f"SQLite {self._path}"
        self._busy_timeout = busy_timeout
        self._poll_interval = poll_interval
        self._clock = clock
        self._connection: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self._work = WakeSignal()
        self._due_cache: dict[str, tuple[int, float | None]] = {}  # prefix -> version, due

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    async def open(self) -> None:
        """Open the file in WAL mode and create or migrate the schema."""
        if self._connection is not None:
            return
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise StoreError(
                f"SQLite {sqlite3.sqlite_version} is too old for the message store; "
                f"{'.'.join(map(str, MIN_SQLITE_VERSION))} or newer is needed"
            )
        try:
            if self._path not in ("", ":memory:"):
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            connection = await aiosqlite.connect(self._path, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open {self._where}: {exc}") from exc
        try:
            with translated("opening the store", self._where):
                await connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
                await connection.execute("PRAGMA journal_mode = WAL")
                await migrate(connection, self._where)
        except BaseException:
            await connection.close()
            raise
        self._connection = connection

    async def close(self) -> None:
        """Close the connection once the operation in progress, if any, finished; idempotent."""
        if self._connection is None:
            return
        async with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None:
                await connection.close()

    def _require(self) -> aiosqlite.Connection:
        if self._connection is None:
            raise StoreError(f"the store on {self._where} is not open; call open() first")
        return self._connection

    @asynccontextmanager
    async def _locked(self, action: str) -> AsyncIterator[aiosqlite.Connection]:
        """The store's connection, for one task at a time."""
        connection = self._require()
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            raise StoreError(
                f"{action} was called inside a transaction of the same store; it would wait "
                "for itself. Use the transaction's methods, or finish the transaction first"
            )
        async with self._lock:
            self._holder = task
            try:
                yield connection
            finally:
                self._holder = None

    @asynccontextmanager
    async def _write(self, action: str) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction of the store's connection, one at a time in this process."""
        async with self._locked(action) as connection:
            with translated(action, self._where):
                await connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                with translated(action, self._where):
                    await connection.execute("ROLLBACK")
                raise
            try:
                await connection.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    await connection.execute("ROLLBACK")
                raise StoreError(f"{action} failed on {self._where}: {exc}") from exc

    @asynccontextmanager
    async def _read(self, action: str) -> AsyncIterator[aiosqlite.Connection]:
        async with self._locked(action) as connection:
            with translated(action, self._where):
                yield connection

    @asynccontextmanager
    async def transaction(
        self, connection: aiosqlite.Connection | None = None
    ) -> AsyncIterator[SqliteTransaction]:
        """A transaction; with ``connection`` given, enlist in the caller's transaction."""
        if connection is not None:
            if not isinstance(connection, aiosqlite.Connection):
                raise StoreError(
                    f"SqliteStore can enlist only in an aiosqlite.Connection, "
                    f"not {type(connection).__name__}"
                )
            if connection.isolation_level is None and not connection.in_transaction:
                raise StoreError(
                    "the given connection is in autocommit mode outside a transaction; "
                    "execute BEGIN first so the outbox rows commit with it"
                )
            yield SqliteTransaction(connection, self._clock, self._where)
            self._work.set()  # the caller commits; a relay that looks too early polls again
            return
        async with self._write("a transaction") as conn:
            tx = SqliteTransaction(conn, self._clock, self._where)
            yield tx
        if tx.added:
            self._work.set()

    async def claim(
        self, destination_prefix: str, owner: str, limit: int, lease_seconds: float
    ) -> list[StoredMessage]:
        """Lease due rows, oldest first, keeping each stream in order (see the port)."""
        if limit <= 0:
            return []
        now = self._clock()
        async with self._write("claiming outgoing messages") as conn:
            params = {
                "prefix": destination_prefix,
                "now": now,
                "limit": limit,
                "window": max(limit * _WINDOW_FACTOR, 1000),
            }
            async with conn.execute(_CLAIM, params) as cursor:
                ids = [row[0] for row in await cursor.fetchall()]
            if not ids:
                return []
            async with conn.execute(
                f"UPDATE outbox SET owner = ?, lease_until = ?"
                f" WHERE id IN (SELECT value FROM json_each(?)) RETURNING {rows.OUTBOX_COLUMNS}",
                (owner, now + lease_seconds, rows.ids_json(ids)),
            ) as cursor:
                claimed = [rows.stored_message(row) for row in await cursor.fetchall()]
        return sorted(claimed, key=lambda message: message.id)

    @asynccontextmanager
    async def claimed(
        self, destination_prefix: str, owner: str, limit: int, lease_seconds: float
    ) -> AsyncIterator[LeasedRows]:
        """Rows leased as :meth:`claim` leases them (each settled on its own).

        The file's one writer never waits for a publication; a row left unsettled waits for
        its lease to expire.
        """
        claimed = await self.claim(destination_prefix, owner, limit, lease_seconds)
        yield LeasedRows(self, owner, claimed)

    async def complete(self, ids: Sequence[int]) -> None:
        """Mark rows as sent."""
        if not ids:
            return
        async with self._write("completing outgoing messages") as conn:
            await conn.execute(
                "UPDATE outbox SET sent_at = ?, owner = NULL, lease_until = NULL"
                " WHERE id IN (SELECT value FROM json_each(?)) AND sent_at IS NULL",
                (self._clock(), rows.ids_json(ids)),
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
        async with self._write("releasing outgoing messages") as conn:
            cursor = await conn.execute(
                "UPDATE outbox SET owner = NULL, lease_until = NULL, attempts = attempts + 1,"
                " last_error = coalesce(?, last_error), available_at = coalesce(?, available_at),"
                " scheduled = 0 WHERE id IN (SELECT value FROM json_each(?)) AND owner = ?"
                " AND sent_at IS NULL",
                (error, available_at, rows.ids_json(ids), owner),
            )
            count = cursor.rowcount
            await cursor.close()
        self._work.set()
        return count

    async def extend_lease(self, ids: Sequence[int], *, owner: str, lease_seconds: float) -> int:
        """Renew the lease of unsent rows still leased by ``owner``; returns how many."""
        if not ids:
            return 0
        async with self._write("renewing leases of outgoing messages") as conn:
            cursor = await conn.execute(
                "UPDATE outbox SET lease_until = ? WHERE id IN (SELECT value FROM json_each(?))"
                " AND owner = ? AND sent_at IS NULL",
                (self._clock() + lease_seconds, rows.ids_json(ids), owner),
            )
            count = cursor.rowcount
            await cursor.close()
        return count

    async def purge(self, sent_before: float, inbox_before: float) -> PurgeCounts:
        """Delete sent outbox rows and inbox rows older than the given times."""
        async with self._write("purging") as conn:
            outbox = await conn.execute("DELETE FROM outbox WHERE sent_at < ?", (sent_before,))
            inbox = await conn.execute("DELETE FROM inbox WHERE recorded_at < ?", (inbox_before,))
            counts = PurgeCounts(outbox=outbox.rowcount, inbox=inbox.rowcount)
            await outbox.close()
            await inbox.close()
        return counts

    @staticmethod
    def _filter(where: DeadLetterFilter | None) -> tuple[str, list[Any]]:
        where = where or DeadLetterFilter()
        clauses: list[str] = []
        params: list[Any] = []
        for clause, value in (
            (
                "id IN (SELECT value FROM json_each(?))",
                rows.ids_json(where.ids) if where.ids is not None else None,
            ),
            ("message_type = ?", where.message_type),
            ("exception_type = ?", where.exception_type),
            ("last_failure_at >= ?", where.since),
            ("last_failure_at < ?", where.until),
            ("tenant = ?", where.tenant),
            ("(consumer_group = ? OR consumer_group IS NULL)", where.group),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    async def dead_letters(self, where: DeadLetterFilter | None = None) -> list[DeadLetter]:
        """List dead letters, oldest first."""
        condition, params = self._filter(where)
        limit = f" LIMIT {int(where.limit)}" if where and where.limit else ""
        query = f"SELECT {rows.DEAD_LETTER_COLUMNS} FROM dead_letters{condition} ORDER BY id{limit}"
        async with self._read("listing dead letters") as conn, conn.execute(query, params) as cur:
            return [rows.dead_letter(row) for row in await cur.fetchall()]

    async def purge_dead_letters(self, where: DeadLetterFilter | None = None) -> int:
        """Delete the selected dead letters; returns how many."""
        condition, params = self._filter(where)
        query = f"DELETE FROM dead_letters{condition}"
        if where is not None and where.limit:  # the oldest ``limit`` of the selection
            query = (
                "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters"
                f"{condition} ORDER BY id LIMIT {int(where.limit)})"
            )
        async with self._write("purging dead letters") as conn:
            cursor = await conn.execute(query, params)
            count = cursor.rowcount
            await cursor.close()
        return count

    async def inbox_recorded(self, keys: Sequence[InboxKey]) -> set[InboxKey]:
        """Which of ``keys`` (message id, handler) are committed in the inbox."""
        wanted = set(keys)
        ids = sorted({message_id for message_id, _ in keys})
        found: set[InboxKey] = set()
        async with self._read("reading the inbox") as conn:
            for start in range(0, len(ids), INBOX_CHUNK):
                chunk = ids[start : start + INBOX_CHUNK]
                marks = ", ".join("?" * len(chunk))
                query = f"SELECT message_id, handler FROM inbox WHERE message_id IN ({marks})"
                async with conn.execute(query, chunk) as cursor:
                    found.update((row[0], row[1]) for row in await cursor.fetchall())
        return found & wanted

    async def load_actor_states(
        self, actor_type: str, keys: Sequence[str]
    ) -> dict[str, ActorState]:
        """The stored states of the actors of ``actor_type`` with ``keys``."""
        if not keys:
            return {}
        found: dict[str, ActorState] = {}
        async with (
            self._read("loading actor states") as conn,
            conn.execute(
                "SELECT actor_key, version, state, reminders, updated_at FROM actor_states"
                " WHERE actor_type = ? AND actor_key IN (SELECT value FROM json_each(?))",
                (actor_type, json.dumps(list(keys))),
            ) as cursor,
        ):
            for row in await cursor.fetchall():
                found[row[0]] = ActorState(
                    actor_type, row[0], row[1], bytes(row[2]), decode_reminders(row[3]), row[4]
                )
        return found

    async def stats(self) -> StoreStats:
        """Backlog, age of the oldest due row, dead letters and inbox size."""
        now = self._clock()
        query = (
            "SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NULL),"
            " (SELECT min(available_at) FROM outbox WHERE sent_at IS NULL AND available_at <= ?),"
            " (SELECT count(*) FROM dead_letters), (SELECT count(*) FROM inbox)"
        )
        async with self._read("reading statistics") as conn, conn.execute(query, (now,)) as cur:
            row = await cur.fetchone()
        assert row is not None
        oldest = row[1]
        return StoreStats(
            backlog=row[0],
            oldest_pending_age_seconds=max(0.0, now - oldest) if oldest is not None else 0.0,
            dead_letters=row[2],
            inbox_size=row[3],
        )

    async def _due(self, prefix: str, now: float) -> float | None:
        """When the next row becomes claimable, re-read only after other processes wrote."""
        async with self._read("checking for due messages") as conn:
            async with conn.execute("PRAGMA data_version") as cursor:
                row = await cursor.fetchone()
            version = int(row[0]) if row else 0
            cached = self._due_cache.get(prefix)
            if (
                cached is None
                or cached[0] != version
                or (cached[1] is not None and cached[1] <= now)
            ):
                params = {"prefix": prefix, "now": now}
                async with conn.execute(_NEXT_DUE, params) as cursor:
                    due = await cursor.fetchone()
                cached = self._due_cache[prefix] = (version, due[0] if due else None)
        return cached[1]

    async def wait_for_work(self, max_wait: float, *, destination_prefix: str = "") -> bool:
        """Wait for a local commit, a write by another process, a due row or an expired lease."""
        deadline = time.monotonic() + max_wait
        self._due_cache.pop(destination_prefix, None)  # look afresh
        while True:
            ticket = self._work.ticket()  # a commit of this process from now on wakes us
            now = self._clock()
            # shielded: a caller giving up must not cancel a read halfway (an unfinished
            # statement would keep an old snapshot open and make the next write fail)
            due = await shielded(self._due(destination_prefix, now))
            if due is not None and due <= now:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            wait = min(remaining, self._poll_interval)
            if due is not None:
                wait = min(wait, max(due - now, 0.001))
            try:
                await asyncio.wait_for(ticket.wait(), wait)
            except TimeoutError:
                continue
            self._due_cache.pop(destination_prefix, None)  # this process committed: look again
