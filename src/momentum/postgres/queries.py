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

# The same test for a row that is itself due: it is the first pending row of its stream.
# Written as an ordered LIMIT 1 probe so the planner walks the stream index from its oldest
# entry (a NOT EXISTS was planned as a sequential scan once the table had statistics).
FIRST_PENDING = """(o.key IS NULL OR o.id = (
    SELECT p.id FROM {s}.outbox p
    WHERE p.destination = o.destination AND p.key = o.key AND p.sent_at IS NULL
      AND (NOT p.scheduled OR p.available_at <= %(now)s)
    ORDER BY p.id LIMIT 1))"""

# Why concurrent claims keep each stream in order:
# - Only heads are locked here, with SKIP LOCKED, so a claim never waits and never deadlocks.
#   A row is a head only if the statement's snapshot shows no older pending row of its stream;
#   a row being claimed or published by another relay is unsent, so what follows it is never
#   a head. A head leased after the snapshot is re-checked when locked (READ COMMITTED
#   re-evaluates the WHERE on the newest row version) and dropped.
# - Rows behind a held head (FOLLOWERS) cannot be anyone else's head while the head is
#   unsent; they are locked with SKIP LOCKED and a stream's run stops at the first row not
#   locked (see PostgresStore._claim_followers).
# - Writers of one stream serialize on an advisory lock until commit (PostgresTransaction),
#   so ids of a stream are visible in id order: no older row can appear after a newer one
#   was published.
# Heads are looked for among the oldest ``window`` claimable rows only: with few streams and a
# long backlog, scanning every unsent row for more heads made a claim cost grow with the
# backlog (a drain after an outage was quadratic). Rows beyond the window are reached once
# the ones before them are sent; followers of the heads found fill the rest of the claim.
# Only a stream's first row inside the window can be its head, so only those are probed
# (unkeyed rows are each their own stream).
CLAIM_HEADS = f"""WITH w AS (
    SELECT w.id, w.destination, w.key FROM {{s}}.outbox w
    WHERE w.sent_at IS NULL AND starts_with(w.destination, %(prefix)s)
      AND w.available_at <= %(now)s AND (w.lease_until IS NULL OR w.lease_until <= %(now)s)
    ORDER BY w.id LIMIT %(window)s),
firsts AS (
    SELECT DISTINCT ON (destination, key, CASE WHEN key IS NULL THEN id END) id FROM w
    ORDER BY destination, key, CASE WHEN key IS NULL THEN id END, id)
SELECT o.id, o.destination, o.key FROM {{s}}.outbox o
WHERE o.id IN (SELECT id FROM firsts)
  AND o.sent_at IS NULL
  AND o.available_at <= %(now)s AND (o.lease_until IS NULL OR o.lease_until <= %(now)s)
  AND {FIRST_PENDING}
ORDER BY o.id LIMIT %(limit)s
FOR UPDATE OF o SKIP LOCKED"""

HEAD_WINDOW_FACTOR = 4
"""The head search looks at ``limit * HEAD_WINDOW_FACTOR`` (at least 1,000) oldest rows."""

# Per head, at most ``limit`` rows in id order from the stream index (a LATERAL scan with a
# limit; joining whole streams read every row of a long stream before limiting).
FOLLOWERS = """SELECT f.id, f.destination, f.key, f.available_at, f.lease_until
FROM unnest(%(destinations)s::text[], %(keys)s::text[], %(heads)s::bigint[]) AS h(d, k, head)
CROSS JOIN LATERAL (
    SELECT o.id, o.destination, o.key, o.available_at, o.lease_until FROM {s}.outbox o
    WHERE o.destination = h.d AND o.key = h.k AND o.id > h.head AND o.sent_at IS NULL
      AND (NOT o.scheduled OR o.available_at <= %(now)s)
    ORDER BY o.id LIMIT %(limit)s) AS f
ORDER BY f.id LIMIT %(limit)s"""

LOCK_FOLLOWERS = """SELECT id FROM {s}.outbox
WHERE id = ANY(%(ids)s) AND sent_at IS NULL AND available_at <= %(now)s
  AND (lease_until IS NULL OR lease_until <= %(now)s)
FOR UPDATE SKIP LOCKED"""

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
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    text = " WHERE " + " AND ".join(clauses) if clauses else ""
    return sql.SQL(text), params
