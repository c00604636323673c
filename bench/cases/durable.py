"""The durable store: inbox handling, outbox relay and idle relay latency (issue #9, row 6).

Three benchmarks, on PostgreSQL (a fresh schema per candidate, dropped after) and SQLite (a
file in a temporary directory); PostgreSQL candidates are skipped when it does not answer.
Every op writes real rows, so ops are fixed (no calibration) and the rows are prepared at
setup (see bench/subjects/durable_*.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from bench.framework import Benchmark, Config

_MACHINE = "2-core machine shared with the PostgreSQL server (fsync and synchronous_commit on)."


def _fixed(
    quick_ops: int, ops: int, rounds: int, quick_rounds: int = 3
) -> Callable[[Config], Config]:
    """Fixed ops (no calibration), at most ``rounds`` rounds, one untimed warm-up run."""

    def bounds(config: Config) -> Config:
        if config.is_quick:
            return dataclasses.replace(
                config,
                rounds=min(config.rounds, quick_rounds),
                ops=config.ops or quick_ops,
                warmup_seconds=0,
            )
        return dataclasses.replace(
            config, rounds=min(config.rounds, rounds), ops=config.ops or ops, warmup_seconds=0
        )

    return bounds


# -- (a) inbox handling ----------------------------------------------------------------------

INBOX = Benchmark(
    name="durable-inbox",
    title="inbound records handled by a trivial handler, each recorded in the inbox "
    "(committed in groups) before it counts as done",
    baseline="momentum, no store",
    target="durable handling on PostgreSQL at least 10k messages/s per process (at most "
    "100 µs per message); Wolverine's durable inbox measured 2.7k/s",
    adjust=_fixed(300, 3_000, 5),
    show_rate=True,
)

_I = "bench.subjects.durable_inbox"

INBOX.add(
    "momentum, no store",
    f"{_I}:momentum_memory",
    note='a started `Service` (`database_url="memory://"`, default middleware) over an '
    "`InMemoryBroker` transport (4 lanes; records keyed by 24 tenants) with one handler "
    "`async def handle(event: CashierCreated)`; `run(n)` hands n pre-built CloudEvents "
    "records to `broker.publish_record` (decode, queue on the key's lane) and waits for the "
    "n-th handler (and, with a store, until every inbox row is committed).",
)
INBOX.add(
    "momentum, PostgreSQL store",
    f"{_I}:momentum_postgres",
    max_ns=100_000,
    note="as above with a `PostgresStore` (defaults: pool of 1-10 connections): inbox "
    "look-up started when a record is queued (one `SELECT ... WHERE message_id = ANY(...)` for "
    "what is queued together), the handler (holding no connection), then the group commit: "
    "one transaction with one `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING "
    "RETURNING` for every message handled while the previous commit ran. " + _MACHINE,
)
INBOX.add(
    "momentum, SQLite store",
    f"{_I}:momentum_sqlite",
    note="as above with a `SqliteStore` (one WAL file, one aiosqlite connection: look-ups "
    "and group commits take turns; multi-row `INSERT ... RETURNING`).",
)
INBOX.add(
    "raw psycopg commit per message",
    f"{_I}:raw_postgres",
    note="the floor of a per-message commit: 4 psycopg `AsyncConnection`s (one per lane), "
    "each running `BEGIN; INSERT INTO inbox ... ON CONFLICT DO NOTHING; COMMIT` per message "
    "id into a one-table inbox (primary key message id + handler); no decoding, no handler.",
)
INBOX.add(
    "raw sqlite3 commit per message",
    f"{_I}:raw_sqlite",
    note="the same with `sqlite3` (WAL, defaults) on a worker thread: "
    "`BEGIN IMMEDIATE; INSERT ...; COMMIT` per message id.",
)

# -- (b) outbox relay ------------------------------------------------------------------------

RELAY = Benchmark(
    name="durable-relay",
    title="committed outbox rows claimed, handed to an in-memory transport and marked sent",
    baseline="raw psycopg batch UPDATE ... RETURNING",
    target="relay on PostgreSQL at least 20k messages/s (at most 50 µs per row)",
    adjust=_fixed(1_000, 10_000, 5),
    show_rate=True,
)

_R = "bench.subjects.durable_relay"

RELAY.add(
    "raw psycopg batch UPDATE ... RETURNING",
    f"{_R}:raw_postgres",
    note="the floor, not a relay: per batch of 500 one statement `UPDATE outbox SET sent_at = "
    "now() ... WHERE id IN (SELECT id ... WHERE sent_at IS NULL ORDER BY id LIMIT 500 FOR "
    "UPDATE SKIP LOCKED) RETURNING ...` on momentum's own outbox table (same rows and "
    "indexes), then the same `publish_records`: no lease, no per-key order, rows marked sent "
    "before they are published. " + _MACHINE,
)
RELAY.add(
    "momentum OutboxRelay, PostgreSQL",
    f"{_R}:momentum_postgres",
    max_ns=50_000,
    note="`OutboxRelay.relay_once` in a loop with the service defaults (batches of 500): "
    "claim (stream heads and followers, per-key order), `InMemoryTransport.publish_records` "
    "(accepts at once; nothing subscribed), mark sent. Every round's rows are committed at "
    "setup (24 keys), so round k starts with (rounds + 1 - k) x ops unsent rows: 50k down to "
    "10k in a full run, 3k down to 1k quick. One transaction per batch, held while it is "
    "published: a plan statement (a window of 1,000 pending rows in id order from the oldest "
    "claimable one, stream heads probed, rows locked with SKIP LOCKED: the locks hold the "
    "claim, no lease is written), a `SELECT` of the rows, then one `UPDATE` marking them "
    "sent. Sent rows stay in the table (dead index entries) until purged and vacuumed.",
)
RELAY.add(
    "raw sqlite3 batch UPDATE ... RETURNING",
    f"{_R}:raw_sqlite",
    note="as the psycopg floor with `sqlite3` on a worker thread (`BEGIN IMMEDIATE`, one "
    "`UPDATE ... LIMIT 500 ... RETURNING`, `COMMIT`).",
)
RELAY.add(
    "momentum OutboxRelay, SQLite",
    f"{_R}:momentum_sqlite",
    note="as the PostgreSQL relay with a `SqliteStore` (defaults): the same window, one "
    "plan statement and the lease `UPDATE ... RETURNING` under `BEGIN IMMEDIATE`.",
)

# -- (c) idle publish -> relay latency --------------------------------------------------------

LATENCY = Benchmark(
    name="durable-latency",
    title="idle relay: outbox commit -> transport hand-off latency, one message at a time",
    baseline="momentum, no store: bus.publish",
    target="PostgreSQL commit by another process (LISTEN/NOTIFY) -> transport: p50 at most 5 ms",
    latency=True,
    adjust=_fixed(4, 20, 3, quick_rounds=2),
)

_L = "bench.subjects.durable_latency"

LATENCY.add(
    "momentum, no store: bus.publish",
    f"{_L}:momentum_memory",
    note='`bus.publish(event)` on a started `Service` (`database_url="memory://"`) to an '
    "in-memory transport that notes the time it is handed the message. Every message is "
    "sent after the previous arrived plus 75 ms of idleness.",
)
LATENCY.add(
    "PostgreSQL, commit in this process",
    f"{_L}:momentum_postgres_local",
    note="`async with bus.transaction(): await bus.publish(event)` with a `PostgresStore`: "
    "the commit kicks the service's own relay (claim, `publish_records`).",
)
LATENCY.add(
    "PostgreSQL, commit by another process (LISTEN/NOTIFY)",
    f"{_L}:momentum_postgres_notify",
    max_ns=5_000_000,
    note="a second `PostgresStore` on the same schema (its own pool, as another process of "
    "the service) commits the row with `add_outgoing`; the relay wakes on the NOTIFY. " + _MACHINE,
)
LATENCY.add(
    "SQLite, commit in this process",
    f"{_L}:momentum_sqlite_local",
    note="as the PostgreSQL one with a `SqliteStore`: the commit kicks the relay.",
)
LATENCY.add(
    "SQLite, commit by another process (polling)",
    f"{_L}:momentum_sqlite_poll",
    note="a second `SqliteStore` on the same file commits the row; nothing signals it: the "
    "store checks `PRAGMA data_version` every 0.2 s (`poll_interval`, the service default: "
    "expect about 0.1 s), and the relay claims again after `poll_seconds` (1 s) at the "
    "latest.",
)

BENCHMARKS = [INBOX, RELAY, LATENCY]
