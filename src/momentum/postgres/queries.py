"""The SQL of the PostgreSQL store's claims, wake-ups and dead-letter filters.

``{s}`` stands for the service's schema (filled in with :func:`psycopg.sql.SQL.format`).
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from momentum.postgres import rows
from momentum.runtime.store import DeadLetterFilter

# A stream's head: an unsent row with no older unsent row in its stream (destination, key).
# A scheduled row that is not due yet has not joined its stream, so it holds nothing back.
NO_OLDER_PENDING = """(o.key IS NULL OR NOT EXISTS (
    SELECT 1 FROM {s}.outbox p
    WHERE p.destination = o.destination AND p.key = o.key AND p.id < o.id
      AND p.sent_at IS NULL AND (NOT p.scheduled OR p.available_at <= %(now)s)))"""

# Why concurrent claims keep each stream in order:
# - A row is a stream's head only if the statement's snapshot shows no older pending row of
#   its stream; a row being claimed or published by another relay is unsent, so what follows
#   it is never a head. Its followers are the unbroken run of free rows right behind it.
# - Every picked row is locked with SKIP LOCKED, so a claim never waits and never deadlocks.
#   READ COMMITTED re-evaluates the WHERE on the newest version of a row changed after the
#   snapshot (leased or sent meanwhile) and drops it. A stream's run stops at its first picked
#   row that was not locked (PostgresStore.claim), so a row never leaves without the rows
#   before it.
# - Writers of one stream serialize on an advisory lock until commit (PostgresTransaction),
#   so ids of a stream are visible in id order: no older row can appear after a newer one
#   was published.
# Heads and followers are looked for among a window of ``window`` pending rows in id order,
# starting at the oldest claimable row: with few streams and a long backlog, scanning every
# unsent row made a claim cost grow with the backlog (a drain after an outage was quadratic).
# Rows beyond the window are reached once the ones before them are sent. Only a stream's
# first row inside the window can be its head, so only those are probed against the stream
# index (rows before the window are all leased or not due; unkeyed rows are each their own
# stream). The window is one ordered scan of ``outbox_unsent`` and the rest is computed on
# those rows: no join between intermediate results (their size is unknown to the planner,
# which then picked nested loops re-running the probes per row).
# A stream's partition (unkeyed rows: one each); "C" collation sorts bytes, not words.
_STREAM = 'destination COLLATE "C", key COLLATE "C", alone'
CLAIM_PLAN = f"""WITH w AS MATERIALIZED (
    SELECT w.id, w.destination, w.key, CASE WHEN w.key IS NULL THEN w.id END AS alone,
        w.available_at <= %(now)s AND (w.lease_until IS NULL OR w.lease_until <= %(now)s) AS free
    FROM {{s}}.outbox w
    WHERE w.sent_at IS NULL AND starts_with(w.destination, %(prefix)s)
      AND (NOT w.scheduled OR w.available_at <= %(now)s)
      AND w.id >= (
        SELECT c.id FROM {{s}}.outbox c
        WHERE c.sent_at IS NULL AND starts_with(c.destination, %(prefix)s)
          AND c.available_at <= %(now)s AND (c.lease_until IS NULL OR c.lease_until <= %(now)s)
        ORDER BY c.id LIMIT 1)
    ORDER BY w.id LIMIT %(window)s),
runs AS (
    SELECT id, destination, key, alone, first_value(id) OVER st AS first,
        bool_and(free) OVER st AS clear
    FROM w WINDOW st AS (PARTITION BY {_STREAM} ORDER BY id)),
probed AS (
    SELECT r.*, CASE WHEN r.id <> r.first OR NOT r.clear THEN false
        WHEN r.key IS NULL THEN true
        ELSE r.id = (
            SELECT p.id FROM {{s}}.outbox p
            WHERE p.destination = r.destination AND p.key = r.key AND p.sent_at IS NULL
              AND (NOT p.scheduled OR p.available_at <= %(now)s)
            ORDER BY p.id LIMIT 1) END AS head
    FROM runs r),
streams AS (
    SELECT id, destination, key, first, clear, bool_or(head) OVER (PARTITION BY {_STREAM}) AS open
    FROM probed),
picked AS MATERIALIZED (
    SELECT id, destination, key FROM streams WHERE clear AND open
    ORDER BY id <> first, id LIMIT %(limit)s),
locked AS (
    SELECT o.id FROM {{s}}.outbox o
    WHERE o.id = ANY(ARRAY(SELECT id FROM picked)) AND o.sent_at IS NULL
      AND o.available_at <= %(now)s AND (o.lease_until IS NULL OR o.lease_until <= %(now)s)
    FOR UPDATE OF o SKIP LOCKED)
SELECT id, destination, key, false FROM picked
UNION ALL SELECT id, NULL, NULL, true FROM locked"""
"""Picks and locks a claim: ``(id, destination, key, false)`` per picked row (heads first,
then followers, at most ``limit``) and ``(id, NULL, NULL, true)`` per row locked."""

CLAIM_SETTINGS = "SELECT set_config('enable_bitmapscan', 'off', true)"
"""Run in the claim's transaction before :data:`CLAIM_PLAN`: without statistics (a freshly
filled table) the planner expects one unsent row and reads the window by a bitmap scan of
every unsent row plus a sort instead of walking ``outbox_unsent`` in id order."""

IDLE_LIMIT = "SELECT set_config('idle_in_transaction_session_timeout', %s, true)"
"""Run in a relay's claim transaction (milliseconds): a relay that holds its rows' locks but
stays idle longer (hung while publishing) is disconnected, which frees them."""

HEAD_WINDOW_FACTOR = 2
"""The window holds ``limit * HEAD_WINDOW_FACTOR`` (at least 1,000) pending rows: room for as
many rows held back (leased by other relays, behind a delayed row) as a claim takes. Each
window row costs the claim a heap read and two sorts (4x cost a 500-row claim 2.5 ms more)."""

NEXT_DUE = f"""SELECT min(greatest(o.available_at, coalesce(o.lease_until, o.available_at)))
FROM {{s}}.outbox o
WHERE o.sent_at IS NULL AND starts_with(o.destination, %(prefix)s) AND {NO_OLDER_PENDING}"""


def dead_letter_filter(where: DeadLetterFilter | None) -> tuple[sql.Composable, list[Any]]:
    """The ``WHERE`` clause (possibly empty) and parameters selecting dead letters."""
    where = where or DeadLetterFilter()
    clauses: list[str] = []
    params: list[Any] = []
    since = rows.to_datetime(where.since) if where.since is not None else None
    until = rows.to_datetime(where.until) if where.until is not None else None
    for clause, value in (
        ("id = ANY(%s)", list(where.ids) if where.ids is not None else None),
        ("message_type = %s", where.message_type),
        ("exception_type = %s", where.exception_type),
        ("last_failure_at >= %s", since),
        ("last_failure_at < %s", until),
        ("tenant = %s", where.tenant),
        ("(consumer_group = %s OR consumer_group IS NULL)", where.group),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    text = " WHERE " + " AND ".join(clauses) if clauses else ""
    return sql.SQL(text), params
