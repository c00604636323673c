"""What the durable-store benchmarks share: the databases, the records and a countdown.

PostgreSQL is ``MOMENTUM_TEST_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); when it does not answer within a few
seconds every PostgreSQL candidate raises :class:`~bench.framework.Skip`. Each candidate
works in its own schema (``bench_<random>``), dropped when it exits. SQLite candidates use a
file in a temporary directory, removed when they exit.

The message is the ``CashierCreated`` event of the Kafka benchmarks (a ~200-byte CloudEvents
record keyed by one of 24 tenants), so records spread over the in-memory broker's lanes as
they would over Kafka partitions.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import string
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID

from bench.framework import Skip
from bench.subjects.kafka_support import TENANTS, CashierCreated, cashier_created

DATABASE_URL = os.environ.get(
    "MOMENTUM_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ENVIRONMENT = "development"
TOPIC_PREFIX = "dev."
DOMAIN = "BenchDurable"
STALL_SECONDS = 60.0


def topic() -> str:
    """The topic of ``CashierCreated`` in the benchmarks' environment."""
    from momentum import topic_name

    return topic_name(CashierCreated, ENVIRONMENT)


def _suffix() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


async def _require_postgres() -> None:
    import psycopg

    try:
        connection = await psycopg.AsyncConnection.connect(DATABASE_URL, connect_timeout=3)
    except (psycopg.Error, OSError) as exc:
        raise Skip(f"no PostgreSQL answers at {DATABASE_URL} ({type(exc).__name__})") from None
    await connection.close()


@asynccontextmanager
async def postgres_schema(label: str) -> AsyncIterator[str]:
    """A fresh schema name ``bench_<label>_<random>`` (skips without PostgreSQL); dropped after."""
    import psycopg

    await _require_postgres()
    schema = f"bench_{label}_{_suffix()}"
    try:
        yield schema
    finally:
        async with await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True) as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@asynccontextmanager
async def sqlite_directory() -> AsyncIterator[Path]:
    """A temporary directory for SQLite files, removed after."""
    path = Path(tempfile.mkdtemp(prefix="momentum-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def postgres_store(schema: str, **options: Any) -> Any:
    """A ``PostgresStore`` built as ``database_url=postgresql://...`` builds it (defaults)."""
    from momentum.postgres import PostgresStore

    return PostgresStore(DATABASE_URL, schema=schema, **{"poll_interval": 1.0, **options})


def sqlite_store(path: Path, **options: Any) -> Any:
    """A ``SqliteStore`` built as ``database_url=sqlite:///...`` builds it (defaults)."""
    from momentum.sqlite import SqliteStore

    return SqliteStore(f"sqlite:///{path}", **{"poll_interval": 0.2, **options})


def record_template(i: int = 0) -> Any:
    """The wire record of the ``i``-th ``CashierCreated`` (what the Kafka transport writes)."""
    from momentum.contracts.envelope import Envelope
    from momentum.contracts.partitioning import partition_key
    from momentum.runtime.records import encode_outgoing

    event = cashier_created(i)
    envelope = Envelope(event, source="/bench_durable/bench-publisher")
    return encode_outgoing(envelope, topic(), partition_key(event))


def records(count: int, first: int = 0) -> list[Any]:
    """``count`` wire records with unique message ids, keys rotating over 24 tenants."""
    templates = [record_template(i) for i in range(len(TENANTS))]
    position = next(i for i, (name, _) in enumerate(templates[0].headers) if name == "ce_id")
    made = []
    for i in range(first, first + count):
        template = templates[i % len(templates)]
        message_id = str(UUID(int=(0xBE7C << 112) + i))
        headers = list(template.headers)
        headers[position] = ("ce_id", message_id.encode())
        made.append(replace(template, message_id=message_id, headers=headers))
    return made


def run_id() -> int:
    """A random offset for message ids, so reruns on a kept database never collide."""
    return secrets.randbits(40) << 24


async def fill_outbox(store: Any, count: int, chunk: int = 5000) -> None:
    """Commit ``count`` outbox rows (in transactions of ``chunk`` rows) through ``store``."""
    first = run_id()
    for start in range(0, count, chunk):
        batch = records(min(chunk, count - start), first + start)
        async with store.transaction() as tx:
            await tx.add_outgoing(batch)


class Countdown:
    """Counts handled messages; ``wait(n)`` returns once ``n`` more were counted."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self._done = asyncio.Event()

    def hit(self) -> None:
        """One message handled."""
        self.count += 1
        if self.count >= self.target:
            self._done.set()

    async def wait(self, n: int, feed: Callable[[], None] | None = None) -> None:
        """Expect ``n`` more, call ``feed`` (which delivers them) and wait until counted."""
        self.target += n
        self._done.clear()
        if feed is not None:
            feed()
        if self.count < self.target:
            await asyncio.wait_for(self._done.wait(), STALL_SECONDS + n / 100)
