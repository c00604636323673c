"""The PostgreSQL schema of the message store: versioned migrations, applied at open.

Every table lives in the service's own schema. ``momentum_schema`` records the applied
versions; a database whose version is newer than :data:`SCHEMA_VERSION` is refused, so an old
process never writes to tables it does not understand.
"""

from __future__ import annotations

from psycopg import AsyncConnection, sql

from momentum.contracts.errors import StoreError

SCHEMA_VERSION = 4
"""The schema version this code writes and understands."""

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE {s}.outbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            message_id text NOT NULL,
            destination text NOT NULL,
            key text,
            header_names text[] NOT NULL,
            header_values bytea[] NOT NULL,
            body bytea NOT NULL,
            created_at timestamptz NOT NULL,
            available_at timestamptz NOT NULL,
            scheduled boolean NOT NULL DEFAULT false,
            attempts integer NOT NULL DEFAULT 0,
            owner text,
            lease_until timestamptz,
            last_error text,
            sent_at timestamptz
        )""",
        # A queue table: vacuum and analyze it early, so claims keep using the partial indexes.
        "ALTER TABLE {s}.outbox SET (autovacuum_vacuum_scale_factor = 0.01,"
        " autovacuum_analyze_scale_factor = 0.01)",
        "CREATE INDEX outbox_unsent ON {s}.outbox (id) WHERE sent_at IS NULL",
        "CREATE INDEX outbox_stream ON {s}.outbox (destination, key, id) WHERE sent_at IS NULL",
        "CREATE INDEX outbox_sent ON {s}.outbox (sent_at) WHERE sent_at IS NOT NULL",
        """CREATE TABLE {s}.inbox (
            message_id text NOT NULL,
            handler text NOT NULL,
            recorded_at timestamptz NOT NULL,
            PRIMARY KEY (message_id, handler)
        )""",
        "CREATE INDEX inbox_recorded ON {s}.inbox (recorded_at)",
        """CREATE TABLE {s}.dead_letters (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            message_id text NOT NULL,
            destination text NOT NULL,
            key text,
            header_names text[] NOT NULL,
            header_values bytea[] NOT NULL,
            body bytea NOT NULL,
            message_type text,
            exception_type text NOT NULL,
            exception_message text NOT NULL,
            stack text NOT NULL,
            attempts integer NOT NULL,
            first_failure_at timestamptz NOT NULL,
            last_failure_at timestamptz NOT NULL,
            origin_topic text,
            origin_partition integer,
            origin_offset bigint,
            handler text,
            tenant text
        )""",
        "CREATE INDEX dead_letters_failure ON {s}.dead_letters (last_failure_at)",
        "CREATE INDEX dead_letters_type ON {s}.dead_letters (message_type, exception_type)",
    ),
    2: ("ALTER TABLE {s}.dead_letters ADD COLUMN consumer_group text",),
    3: (
        # the key of a record kept as it was read (poison, a foreign record): any bytes
        "ALTER TABLE {s}.dead_letters ADD COLUMN raw_key bytea",
        # a btree entry holds at most 2704 bytes: a poison record's ce_type may be longer.
        # Filters compare types for equality only, which hash indexes answer at any length.
        "DROP INDEX {s}.dead_letters_type",
        "CREATE INDEX dead_letters_type ON {s}.dead_letters USING hash (message_type)",
        "CREATE INDEX dead_letters_exception ON {s}.dead_letters USING hash (exception_type)",
    ),
    4: (
        """CREATE TABLE {s}.actor_states (
            actor_type text NOT NULL,
            actor_key text NOT NULL,
            version bigint NOT NULL,
            state bytea NOT NULL,
            reminders text,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (actor_type, actor_key)
        ) WITH (fillfactor = 70)""",
        # Rows are updated in place after every batch of their actor's messages: free room
        # in each page lets the update stay on the page (HOT: no index entry written), and
        # vacuuming early keeps that room.
        "ALTER TABLE {s}.actor_states SET (autovacuum_vacuum_scale_factor = 0.01,"
        " autovacuum_analyze_scale_factor = 0.01)",
    ),
}


async def migrate(connection: AsyncConnection[object], schema: str) -> int:
    """Create ``schema`` and apply the missing migrations, serialized across processes.

    Args:
        connection: An autocommit connection.
        schema: The service's schema name.

    Returns:
        The schema version after migrating.

    Raises:
        StoreError: The database's schema version is newer than this code's.
    """
    s = sql.Identifier(schema)
    async with connection.transaction():
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"momentum:{schema}",)
        )
        await connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
        await connection.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.momentum_schema (version integer PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(s)
        )
        cursor = await connection.execute(
            sql.SQL("SELECT coalesce(max(version), 0) FROM {}.momentum_schema").format(s)
        )
        row = await cursor.fetchone()
        current = int(row[0]) if row else 0  # type: ignore[index]
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"the momentum schema {schema!r} is at version {current}, newer than this "
                f"momentum's version {SCHEMA_VERSION}; upgrade momentum before starting"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[version]:
                await connection.execute(sql.SQL(statement).format(s=s))
            await connection.execute(
                sql.SQL("INSERT INTO {}.momentum_schema (version) VALUES (%s)").format(s),
                (version,),
            )
    return SCHEMA_VERSION
