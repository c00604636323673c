"""Group commit of inbox rows: many handled messages, one transaction.

A handler that does not take the store transaction runs outside one; what it leaves to
write (its inbox row, the outbox rows and local deliveries it produced) is queued here and
committed with the queued work of other messages in one transaction: one commit (and one
fsync) for a batch instead of one per message. The receiver returns at once, so a lane goes
on to its next message while the commit is pending; the transport commits its offsets only
after :meth:`GroupCommit.settle` (everything queued before the call is committed), so
nothing is acknowledged that is not durably recorded.

Batches commit strictly in queue order. A batch that fails (the database is unreachable) is
tried again, unchanged, after a back-off until it commits or the service stops; nothing
queued later commits before it, so outbox rows keep their order per key. Entries still
queued at stop are abandoned: their messages were never acknowledged and come again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from momentum.contracts.errors import StoreError
from momentum.runtime.store import InboxKey, MessageStore, OutgoingRecord

if TYPE_CHECKING:
    from momentum.contracts.envelope import Envelope
    from momentum.runtime.outbox import OutboxSession

logger = logging.getLogger("momentum.outbox")

RETRY_SECONDS = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0)
"""Back-off between attempts at a batch that failed to commit (the last one repeats)."""


@dataclass(slots=True)
class Pending:
    """One handler's handling of one message, waiting for the group commit.

    Attributes:
        key: ``(message id, handler)``: its inbox row.
        session: What the handler produced: outbox rows and local deliveries.
        envelope: The message (named in logs).
    """

    key: InboxKey
    session: OutboxSession
    envelope: Envelope

    @property
    def description(self) -> str:
        """``type id`` of the message, for logs."""
        return f"{self.envelope.message_type} {self.key[0]}"


class GroupCommit:
    """Commits queued inbox rows (and their outbox rows) in batches, in queue order.

    Args:
        store: The message store.
        committed: Called with each committed entry (starts its local deliveries).
        rows_committed: Called with the number of outbox rows of each committed batch.
        max_batch: Entries per transaction at most.
    """

    def __init__(
        self,
        store: MessageStore,
        committed: Callable[[Pending], None],
        rows_committed: Callable[[int], None],
        max_batch: int = 500,
    ) -> None:
        self._store = store
        self._committed = committed
        self._rows_committed = rows_committed
        self._max_batch = max_batch
        self._queue: list[Pending] = []
        self._keys: dict[InboxKey, int] = {}
        self._queued = 0
        """Entries queued since the start (a sequence number)."""
        self._done = 0
        """Entries committed (or dropped as duplicates) since the start, in queue order."""
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._stopped = False
        self.batches = 0
        """Transactions committed so far."""
        self.failures = 0
        """Failed attempts at committing a batch so far."""

    @property
    def unsettled(self) -> int:
        """Entries queued and not yet committed."""
        return self._queued - self._done

    @property
    def waiting(self) -> int:
        """Callers of :meth:`settle` waiting (a transport holding back its commits)."""
        return len(self._waiters)

    def holds(self, key: InboxKey) -> bool:
        """Whether ``key`` is queued: handled here, its inbox row not yet committed."""
        return key in self._keys

    def add(self, entry: Pending) -> None:
        """Queue ``entry`` for the next batch (the batch in progress is not extended)."""
        if self._stopped:
            raise StoreError("the service is stopping: nothing more is committed")
        self._queue.append(entry)
        self._keys[entry.key] = self._keys.get(entry.key, 0) + 1
        self._queued += 1
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="momentum-group-commit")

    async def settle(self) -> None:
        """Return once everything queued before this call is committed.

        Raises:
            StoreError: The service stopped first (the work was abandoned, not committed).
        """
        target = self._queued
        if self._done >= target:
            return
        if self._stopped:
            raise StoreError("the service stopped before its handled messages were committed")
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((target, future))
        await future

    async def _flush(self) -> None:
        failures = 0
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                try:
                    fresh, written = await self._commit(batch)
                except Exception as exc:  # the database; a defect would repeat: logged loudly
                    self.failures += 1
                    delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                    failures += 1
                    log = logger.warning if isinstance(exc, StoreError) else logger.error
                    log(
                        "committing %d handled message(s) failed (%s: %s); none is "
                        "acknowledged, trying again in %.2f s",
                        len(batch),
                        type(exc).__name__,
                        exc,
                        delay,
                        exc_info=not isinstance(exc, StoreError),
                    )
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                self.batches += 1
                del self._queue[: len(batch)]
                self._done += len(batch)
                self._wake()
                for entry, new in zip(batch, fresh, strict=True):
                    self._forget(entry.key)
                    if new:
                        self._after(entry)
                    else:
                        logger.warning(
                            "%s handled %s while another delivery of it committed first; its "
                            "messages were written by that delivery",
                            entry.key[1],
                            entry.description,
                        )
                if written:
                    self._rows_committed(written)
        finally:
            self._flusher = None

    async def _commit(self, batch: list[Pending]) -> tuple[list[bool], int]:
        async with self._store.transaction() as tx:
            fresh = await tx.record_inboxes([entry.key for entry in batch])
            records: list[OutgoingRecord] = []
            for entry, new in zip(batch, fresh, strict=True):
                if new:
                    records.extend(entry.session.records)
            if records:
                await tx.add_outgoing(records)
        return fresh, len(records)

    def _after(self, entry: Pending) -> None:
        try:
            self._committed(entry)
        except Exception:  # a local delivery that cannot start must not stop the commits
            logger.exception("after committing %s", entry.description)

    def _forget(self, key: InboxKey) -> None:
        left = self._keys[key] - 1
        if left:
            self._keys[key] = left
        else:
            del self._keys[key]

    def _wake(self) -> None:
        done = self._done
        waiting = []
        for target, future in self._waiters:
            if target <= done:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((target, future))
        self._waiters = waiting

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109
        """Commit what is queued (for at most ``timeout`` seconds), then stop.

        Whatever is still queued then is abandoned: its messages were not acknowledged.
        """
        if self._queue:
            with contextlib.suppress(TimeoutError, StoreError):
                await asyncio.wait_for(self.settle(), timeout)
        self._stopped = True
        if self._queue:
            logger.warning(
                "stopping with %d handled message(s) not committed to the inbox; they were "
                "not acknowledged and will be delivered again",
                len(self._queue),
            )
        flusher = self._flusher
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        self._queue.clear()
        self._keys.clear()
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(StoreError("stopped before the commit"))
        self._waiters.clear()
