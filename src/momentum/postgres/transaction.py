"""Store operations inside one PostgreSQL transaction (the store's own or the caller's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql

from momentum.contracts.errors import StoreError
from momentum.postgres import rows
from momentum.runtime.actor_states import ActorStateWrite, encode_reminders
from momentum.runtime.store import DeadLetter, InboxKey, OutgoingRecord, first_occurrences


@contextmanager
def translated(action: str, where: str) -> Iterator[None]:
    """Turn driver errors raised inside into :class:`StoreError` naming the action."""
    try:
        yield
    except psycopg.Error as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"{action} failed on {where}: {detail}") from exc


class PostgresTransaction:
    """A :class:`momentum.runtime.store.StoreTransaction` on a psycopg connection."""

    def __init__(
        self,
        connection: AsyncConnection[Any],
        schema: str,
        channel: str,
        clock: Callable[[], float],
        where: str,
    ) -> None:
        self._connection = connection
        self._schema = schema
        self._s = sql.Identifier(schema)
        self._channel = channel
        self._clock = clock
        self._where = where
        self._notified = False

    @property
    def connection(self) -> AsyncConnection[Any]:
        """The psycopg connection of the transaction, for business writes."""
        return self._connection

    @property
    def where(self) -> str:
        """The database and schema, as errors name them."""
        return self._where

    def clock(self) -> float:
        """The store's current time (POSIX seconds)."""
        return self._clock()

    def q(self, text: str) -> sql.Composed:
        """``text`` with ``{s}`` as the store's schema."""
        return sql.SQL(text).format(s=self._s)

    _q = q

    async def add_outgoing(self, records: Sequence[OutgoingRecord]) -> list[int]:
        """Write outbox rows and notify listeners at commit; returns the row ids."""
        if not records:
            return []
        now = self._clock()
        with translated("adding outgoing messages", self._where):
            # Writers of one stream take turns until commit, so row ids follow commit order
            # within a stream and a relay never sees a stream's newer row before an older one.
            streams = sorted(
                {
                    f"{self._schema}\x1f{r.destination}\x1f{r.key}"
                    for r in records
                    if r.key is not None
                }
            )
            if streams:
                await self._connection.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(s, 7))"
                    " FROM unnest(%s::text[]) s",
                    (streams,),
                )
            params = []
            for record in records:
                due = now if record.available_at is None else record.available_at
                params.append(
                    (
                        record.message_id,
                        record.destination,
                        record.key,
                        [name for name, _ in record.headers],
                        [value for _, value in record.headers],
                        record.body,
                        rows.to_datetime(now),
                        rows.to_datetime(due),
                        due > now,
                    )
                )
            query = self._q(
                "INSERT INTO {s}.outbox (message_id, destination, key, header_names,"
                " header_values, body, created_at, available_at, scheduled)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
            )
            ids: list[int] = []
            async with self._connection.cursor() as cursor:
                await cursor.executemany(query, params, returning=True)
                while True:
                    row = await cursor.fetchone()
                    if row is not None:
                        ids.append(row[0])
                    if not cursor.nextset():
                        break
            if not self._notified:
                await self._connection.execute("SELECT pg_notify(%s, '')", (self._channel,))
                self._notified = True
        return ids

    async def record_inbox(self, message_id: str, handler: str) -> bool:
        """Record a handled message; ``False`` when it was already recorded."""
        with translated("recording an inbox row", self._where):
            cursor = await self._connection.execute(
                self._q(
                    "INSERT INTO {s}.inbox (message_id, handler, recorded_at)"
                    " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
                ),
                (message_id, handler, rows.to_datetime(self._clock())),
            )
            return cursor.rowcount == 1

    async def record_inboxes(self, keys: Sequence[InboxKey]) -> list[bool]:
        """Record several handled messages in one statement; ``False`` for known ones."""
        if not keys:
            return []
        with translated("recording inbox rows", self._where):
            cursor = await self._connection.execute(
                self._q(
                    "INSERT INTO {s}.inbox (message_id, handler, recorded_at)"
                    " SELECT m, h, %s FROM unnest(%s::text[], %s::text[]) AS k(m, h)"
                    " ON CONFLICT DO NOTHING RETURNING message_id, handler"
                ),
                (
                    rows.to_datetime(self._clock()),
                    [message_id for message_id, _ in keys],
                    [handler for _, handler in keys],
                ),
            )
            fresh = {(row[0], row[1]) for row in await cursor.fetchall()}
        return first_occurrences(keys, fresh)

    async def add_dead_letter(self, dead_letter: DeadLetter) -> int:
        """Store a dead letter; returns its row id."""
        with translated("adding a dead letter", self._where):
            placeholders = rows.DEAD_LETTER_PLACEHOLDERS
            cursor = await self._connection.execute(
                self._q(
                    f"INSERT INTO {{s}}.dead_letters ({rows.DEAD_LETTER_INSERT})"
                    f" VALUES ({placeholders}) RETURNING id"
                ),
                rows.dead_letter_params(dead_letter),
            )
            row = await cursor.fetchone()
            assert row is not None
            return int(row[0])

    async def add_dead_letters(self, dead_letters: Sequence[DeadLetter]) -> None:
        """Store dead letters with one binary ``COPY`` (~3x an ``executemany``'s speed)."""
        if not dead_letters:
            return
        with translated("adding dead letters", self._where):
            statement = self._q(
                f"COPY {{s}}.dead_letters ({rows.DEAD_LETTER_INSERT}) FROM STDIN (FORMAT BINARY)"
            )
            async with self._connection.cursor() as cursor, cursor.copy(statement) as copy:
                copy.set_types(list(rows.DEAD_LETTER_TYPES))
                for letter in dead_letters:
                    await copy.write_row(rows.dead_letter_params(letter))

    async def take_dead_letters(self, ids: Sequence[int]) -> list[DeadLetter]:
        """Remove and return dead letters, oldest first."""
        with translated("taking dead letters", self._where):
            cursor = await self._connection.execute(
                self._q(
                    f"DELETE FROM {{s}}.dead_letters WHERE id = ANY(%s)"
                    f" RETURNING {rows.DEAD_LETTER_COLUMNS}"
                ),
                (list(ids),),
            )
            found = [rows.dead_letter(row) for row in await cursor.fetchall()]
        return sorted(found, key=lambda letter: letter.id or 0)

    async def save_actor_states(self, writes: Sequence[ActorStateWrite]) -> list[bool]:
        """Save actor states where their row is at the expected version (see the port).

        One ``UPDATE ... FROM unnest(...) WHERE version = expected RETURNING`` for the rows
        that exist and one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` for new ones, in
        key order (writers of overlapping actors lock their rows in the same order). A
        concurrent writer's row lock is waited for, then the version is checked again on
        the row it committed (READ COMMITTED), so exactly one of two writers succeeds.
        """
        if not writes:
            return []
        now = rows.to_datetime(self._clock())
        ordered = sorted(writes, key=lambda w: (w.actor_type, w.key))
        updates = [w for w in ordered if w.expected_version > 0]
        creates = [w for w in ordered if w.expected_version <= 0]
        saved: set[tuple[str, str]] = set()
        with translated("saving actor states", self._where):
            if updates:
                cursor = await self._connection.execute(
                    self._q(
                        "UPDATE {s}.actor_states a SET version = a.version + 1, state = w.state,"
                        " reminders = w.reminders, updated_at = %s"
                        " FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bytea[],"
                        " %s::text[]) AS w(actor_type, actor_key, expected, state, reminders)"
                        " WHERE a.actor_type = w.actor_type AND a.actor_key = w.actor_key"
                        " AND a.version = w.expected RETURNING a.actor_type, a.actor_key"
                    ),
                    (
                        now,
                        [w.actor_type for w in updates],
                        [w.key for w in updates],
                        [w.expected_version for w in updates],
                        [w.state for w in updates],
                        [encode_reminders(w.reminders) for w in updates],
                    ),
                )
                saved.update((row[0], row[1]) for row in await cursor.fetchall())
            if creates:
                cursor = await self._connection.execute(
                    self._q(
                        "INSERT INTO {s}.actor_states (actor_type, actor_key, version, state,"
                        " reminders, updated_at) SELECT t, k, 1, st, r, %s"
                        " FROM unnest(%s::text[], %s::text[], %s::bytea[], %s::text[])"
                        " AS w(t, k, st, r) ON CONFLICT DO NOTHING RETURNING actor_type, actor_key"
                    ),
                    (
                        now,
                        [w.actor_type for w in creates],
                        [w.key for w in creates],
                        [w.state for w in creates],
                        [encode_reminders(w.reminders) for w in creates],
                    ),
                )
                saved.update((row[0], row[1]) for row in await cursor.fetchall())
        return [(w.actor_type, w.key) in saved for w in writes]

    async def cancel_outgoing(self, destination: str, message_ids: Sequence[str]) -> int:
        """Mark unsent rows of ``destination`` with these message ids as done."""
        if not message_ids:
            return 0
        with translated("cancelling outgoing messages", self._where):
            cursor = await self._connection.execute(
                self._q(
                    "UPDATE {s}.outbox SET sent_at = %s, owner = NULL, lease_until = NULL"
                    " WHERE destination = %s AND message_id = ANY(%s) AND sent_at IS NULL"
                ),
                (rows.to_datetime(self._clock()), destination, list(message_ids)),
            )
            return cursor.rowcount
