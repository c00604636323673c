"""The SQLite schema of the message store: versioned migrations, applied at open.

``momentum_schema`` records the applied versions; a file whose version is newer than
:data:`SCHEMA_VERSION` is refused. Times are POSIX seconds (``REAL``); headers are a JSON list
of ``[name, base64 value]`` pairs.
"""

from __future__ import annotations

import aiosqlite

from momentum.contracts.errors import StoreError

SCHEMA_VERSION = 4
"""The schema version this code writes and understands."""

MIN_SQLITE_VERSION = (3, 35, 0)
"""``RETURNING`` and partial indexes are needed."""

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            message_id TEXT NOT NULL,
            destination TEXT NOT NULL,
            key TEXT,
            headers TEXT NOT NULL,
            body BLOB NOT NULL,
            created_at REAL NOT NULL,
            available_at REAL NOT NULL,
            scheduled INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            owner TEXT,
            lease_until REAL,
            last_error TEXT,
            sent_at REAL
        )""",
        "CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL",
        "CREATE INDEX outbox_stream ON outbox (destination, key, id) WHERE sent_at IS NULL",
        "CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL",
        """CREATE TABLE inbox (
            message_id TEXT NOT NULL,
            handler TEXT NOT NULL,
            recorded_at REAL NOT NULL,
            PRIMARY KEY (message_id, handler)
        ) WITHOUT ROWID""",
        "CREATE INDEX inbox_recorded ON inbox (recorded_at)",
        """CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            message_id TEXT NOT NULL,
            destination TEXT NOT NULL,
            key TEXT,
            headers TEXT NOT NULL,
            body BLOB NOT NULL,
            message_type TEXT,
            exception_type TEXT NOT NULL,
            exception_message TEXT NOT NULL,
            stack TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            first_failure_at REAL NOT NULL,
            last_failure_at REAL NOT NULL,
            origin_topic TEXT,
            origin_partition INTEGER,
            origin_offset INTEGER,
            handler TEXT,
            tenant TEXT
        )""",
        "CREATE INDEX dead_letters_failure ON dead_letters (last_failure_at)",
        "CREATE INDEX dead_letters_type ON dead_letters (message_type, exception_type)",
    ),
    2: ("ALTER TABLE dead_letters ADD COLUMN consumer_group TEXT",),
    # the key of a record kept as it was read (poison, a foreign record): any bytes
    3: ("ALTER TABLE dead_letters ADD COLUMN raw_key BLOB",),
    4: (
        """CREATE TABLE actor_states (
            actor_type TEXT NOT NULL,
            actor_key TEXT NOT NULL,
            version INTEGER NOT NULL,
            state BLOB NOT NULL,
            reminders TEXT,
            updated_at REAL NOT NULL,
            PRIMARY KEY (actor_type, actor_key)
        ) WITHOUT ROWID""",
    ),
}


async def migrate(connection: aiosqlite.Connection, where: str) -> int:
    """Apply the missing migrations in one write transaction (other processes wait).

    Args:
        connection: A connection in autocommit mode (``isolation_level=None``).
        where: The file, for error messages.

    Returns:
        The schema version after migrating.

    Raises:
        StoreError: The file's schema version is newer than this code's.
    """
    await connection.execute("BEGIN IMMEDIATE")
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS momentum_schema (version INTEGER PRIMARY KEY,"
            " applied_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0))"
        )
        async with connection.execute(
            "SELECT coalesce(max(version), 0) FROM momentum_schema"
        ) as cursor:
            row = await cursor.fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"the momentum schema in {where} is at version {current}, newer than this "
                f"momentum's version {SCHEMA_VERSION}; upgrade momentum before starting"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[version]:
                await connection.execute(statement)
            await connection.execute("INSERT INTO momentum_schema (version) VALUES (?)", (version,))
        await connection.execute("COMMIT")
    except BaseException:
        await connection.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION
