"""Relay claims held by row locks (:meth:`PostgresStore.claimed`), and which rows a claim takes.

The claim plan (:data:`momentum.postgres.queries.CLAIM_PLAN`) picks stream heads and the rows
behind them and locks them with ``SKIP LOCKED``; :func:`unbroken_runs` keeps, per stream, the
picked rows up to the first one that could not be locked. A relay holding its rows by the
locks of an open transaction settles them in that transaction (:class:`LockedRows`): one
write per row (sent, released or buried) instead of a lease write first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from momentum.postgres import rows as row_mapping
from momentum.postgres.transaction import PostgresTransaction, translated
from momentum.runtime.store import DeadLetter, StoredMessage


def unbroken_runs(plan: Sequence[Any]) -> list[int]:
    """The ids to take among the rows :data:`queries.CLAIM_PLAN` picked and locked.

    Each stream keeps its picked rows up to the first one that was not locked (a concurrent
    relay holds or changed it), so a row never leaves without the rows before it.
    """
    locked = {row[0] for row in plan if row[3]}
    picked = sorted(row[:3] for row in plan if not row[3])
    cut: set[tuple[str, str | None, int | None]] = set()
    ids: list[int] = []
    for row_id, destination, key in picked:
        stream = (destination, key, row_id if key is None else None)
        if stream in cut:
            continue
        if row_id in locked:
            ids.append(row_id)
        else:
            cut.add(stream)
    return ids


class LockedRows:
    """:class:`~momentum.runtime.store.ClaimedRows` locked by the transaction ``tx``.

    Everything settled here commits (or rolls back) with the transaction when the
    :meth:`PostgresStore.claimed` block ends.
    """

    def __init__(self, tx: PostgresTransaction, owner: str, claimed: list[StoredMessage]) -> None:
        self._tx = tx
        self._owner = owner
        self._rows = claimed
        self.released = False
        """Whether a row was given back (due again later)."""

    @property
    def rows(self) -> list[StoredMessage]:
        """The locked rows, oldest first."""
        return self._rows

    async def _execute(self, action: str, query: str, params: Sequence[Any]) -> None:
        tx = self._tx
        with translated(action, tx.where):
            await tx.connection.execute(tx.q(query), params)

    async def complete(self, ids: Sequence[int]) -> None:
        """Mark rows as sent."""
        if ids:
            await self._execute(
                "completing outgoing messages",
                "UPDATE {s}.outbox SET sent_at = %s WHERE id = ANY(%s)",
                (row_mapping.to_datetime(self._tx.clock()), list(ids)),
            )

    async def release(
        self, ids: Sequence[int], *, available_at: float | None = None, error: str | None = None
    ) -> None:
        """Give rows back after a failed publication, counting an attempt."""
        if not ids:
            return
        due = row_mapping.to_datetime(available_at) if available_at is not None else None
        await self._execute(
            "releasing outgoing messages",
            "UPDATE {s}.outbox SET attempts = attempts + 1,"
            " last_error = coalesce(%s, last_error), available_at = coalesce(%s, available_at),"
            " scheduled = false WHERE id = ANY(%s)",
            (error, due, list(ids)),
        )
        self.released = True

    async def bury(self, row_id: int, letter: DeadLetter) -> None:
        """Store ``letter`` and mark the row done, in the claim's transaction."""
        await self._tx.add_dead_letter(letter)
        await self.complete([row_id])

    async def lease(self, ids: Sequence[int], lease_seconds: float) -> None:
        """Lease rows to the claim's owner (written in the claim's transaction)."""
        if ids:
            await self._execute(
                "leasing outgoing messages",
                "UPDATE {s}.outbox SET owner = %s, lease_until = %s WHERE id = ANY(%s)",
                (
                    self._owner,
                    row_mapping.to_datetime(self._tx.clock() + lease_seconds),
                    list(ids),
                ),
            )
