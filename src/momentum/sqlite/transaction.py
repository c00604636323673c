"""Store operations inside one SQLite transaction (the store's own or the caller's)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import aiosqlite

from momentum.contracts.errors import StoreError
from momentum.runtime.actor_states import ActorStateWrite, encode_reminders
from momentum.runtime.store import DeadLetter, InboxKey, OutgoingRecord, first_occurrences
from momentum.sqlite import rows

INBOX_CHUNK = 300
"""Inbox rows per INSERT statement (SQLite binds at most 32,766 parameters)."""

_UPDATE_STATE = (
    "UPDATE actor_states SET version = version + 1, state = ?, reminders = ?, updated_at = ?"
    " WHERE actor_type = ? AND actor_key = ? AND version = ?"
)
_INSERT_STATE = (
    "INSERT INTO actor_states (actor_type, actor_key, version, state, reminders, updated_at)"
    " VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT DO NOTHING"
)


@contextmanager
def translated(action: str, where: str) -> Iterator[None]:
    """Turn driver errors raised inside into :class:`StoreError` naming the action."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"{action} failed on {where}: {exc}") from exc


class SqliteTransaction:
    """A :class:`momentum.runtime.store.StoreTransaction` on an aiosqlite connection."""

    def __init__(
        self, connection: aiosqlite.Connection, clock: Callable[[], float], where: str
    ) -> None:
        self._connection = connection
        self._clock = clock
        self._where = where
        self.added = 0
        """Outbox rows added so far (the store wakes relays after commit when non-zero)."""

    @property
    def connection(self) -> aiosqlite.Connection:
        """The aiosqlite connection of the transaction, for business writes."""
        return self._connection

    async def add_outgoing(self, records: Sequence[OutgoingRecord]) -> list[int]:
        """Write outbox rows; returns their ids."""
        if not records:
            return []
        now = self._clock()
        params = []
        for record in records:
            due = now if record.available_at is None else record.available_at
            params.append(
                (
                    record.message_id,
                    record.destination,
                    record.key,
                    rows.encode_headers(record.headers),
                    record.body,
                    now,
                    due,
                    int(due > now),
                )
            )
        with translated("adding outgoing messages", self._where):
            await self._connection.executemany(
                "INSERT INTO outbox (message_id, destination, key, headers, body, created_at,"
                " available_at, scheduled) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )
            async with self._connection.execute("SELECT last_insert_rowid()") as cursor:
                row = await cursor.fetchone()
        assert row is not None
        last = int(row[0])
        self.added += len(records)
        # One writer at a time and AUTOINCREMENT: the rows just written have consecutive ids.
        return list(range(last - len(records) + 1, last + 1))

    async def record_inbox(self, message_id: str, handler: str) -> bool:
        """Record a handled message; ``False`` when it was already recorded."""
        with translated("recording an inbox row", self._where):
            cursor = await self._connection.execute(
                "INSERT INTO inbox (message_id, handler, recorded_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (message_id, handler, self._clock()),
            )
            count = cursor.rowcount
            await cursor.close()
        return count == 1

    async def record_inboxes(self, keys: Sequence[InboxKey]) -> list[bool]:
        """Record several handled messages in one statement; ``False`` for known ones."""
        fresh: set[InboxKey] = set()
        now = self._clock()
        with translated("recording inbox rows", self._where):
            for start in range(0, len(keys), INBOX_CHUNK):
                chunk = keys[start : start + INBOX_CHUNK]
                values = ", ".join(["(?, ?, ?)"] * len(chunk))
                params = [value for key in chunk for value in (*key, now)]
                async with self._connection.execute(
                    f"INSERT INTO inbox (message_id, handler, recorded_at) VALUES {values}"
                    " ON CONFLICT DO NOTHING RETURNING message_id, handler",
                    params,
                ) as cursor:
                    fresh.update((row[0], row[1]) for row in await cursor.fetchall())
        return first_occurrences(keys, fresh)

    async def add_dead_letter(self, dead_letter: DeadLetter) -> int:
        """Store a dead letter; returns its row id."""
        placeholders = rows.DEAD_LETTER_PLACEHOLDERS
        with translated("adding a dead letter", self._where):
            cursor = await self._connection.execute(
                f"INSERT INTO dead_letters ({rows.DEAD_LETTER_INSERT}) VALUES ({placeholders})",
                rows.dead_letter_params(dead_letter),
            )
            row_id = cursor.lastrowid
            await cursor.close()
        assert row_id is not None
        return row_id

    async def add_dead_letters(self, dead_letters: Sequence[DeadLetter]) -> None:
        """Store dead letters with one ``executemany``."""
        if not dead_letters:
            return
        with translated("adding dead letters", self._where):
            await self._connection.executemany(
                f"INSERT INTO dead_letters ({rows.DEAD_LETTER_INSERT})"
                f" VALUES ({rows.DEAD_LETTER_PLACEHOLDERS})",
                [rows.dead_letter_params(letter) for letter in dead_letters],
            )

    async def take_dead_letters(self, ids: Sequence[int]) -> list[DeadLetter]:
        """Remove and return dead letters, oldest first."""
        with translated("taking dead letters", self._where):
            async with self._connection.execute(
                f"DELETE FROM dead_letters WHERE id IN (SELECT value FROM json_each(?))"
                f" RETURNING {rows.DEAD_LETTER_COLUMNS}",
                (rows.ids_json(ids),),
            ) as cursor:
                found = [rows.dead_letter(row) for row in await cursor.fetchall()]
        return sorted(found, key=lambda letter: letter.id or 0)

    async def save_actor_states(self, writes: Sequence[ActorStateWrite]) -> list[bool]:
        """Save actor states where their row is at the expected version (see the port).

        All writes are tried in one ``executemany`` per kind (update, create) inside a
        savepoint; only when some failed (a stale writer: rare) are they rolled back to the
        savepoint and made one by one, to tell which.
        """
        if not writes:
            return []
        now = self._clock()
        updates = [
            (w.state, encode_reminders(w.reminders), now, w.actor_type, w.key, w.expected_version)
            for w in writes
            if w.expected_version > 0
        ]
        creates = [
            (w.actor_type, w.key, w.state, encode_reminders(w.reminders), now)
            for w in writes
            if w.expected_version <= 0
        ]
        connection = self._connection
        with translated("saving actor states", self._where):
            await connection.execute("SAVEPOINT momentum_actor_states")
            changed = 0
            for statement, many in ((_UPDATE_STATE, updates), (_INSERT_STATE, creates)):
                if many:
                    cursor = await connection.executemany(statement, many)
                    changed += cursor.rowcount
                    await cursor.close()
            if changed == len(writes):
                await connection.execute("RELEASE momentum_actor_states")
                return [True] * len(writes)
            await connection.execute("ROLLBACK TO momentum_actor_states")
            await connection.execute("RELEASE momentum_actor_states")
            saved = []
            for w in writes:
                params: tuple[object, ...]
                if w.expected_version > 0:
                    statement = _UPDATE_STATE
                    params = (
                        w.state,
                        encode_reminders(w.reminders),
                        now,
                        w.actor_type,
                        w.key,
                        w.expected_version,
                    )
                else:
                    statement = _INSERT_STATE
                    params = (w.actor_type, w.key, w.state, encode_reminders(w.reminders), now)
                cursor = await connection.execute(statement, params)
                saved.append(cursor.rowcount == 1)
                await cursor.close()
        return saved

    async def cancel_outgoing(self, destination: str, message_ids: Sequence[str]) -> int:
        """Mark unsent rows of ``destination`` with these message ids as done."""
        if not message_ids:
            return 0
        with translated("cancelling outgoing messages", self._where):
            cursor = await self._connection.execute(
                "UPDATE outbox SET sent_at = ?, owner = NULL, lease_until = NULL"
                " WHERE destination = ? AND sent_at IS NULL"
                " AND message_id IN (SELECT value FROM json_each(?))",
                (self._clock(), destination, json.dumps(list(message_ids))),
            )
            count = cursor.rowcount
            await cursor.close()
        return count
