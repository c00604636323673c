"""The outbox relay: publishes committed outbox rows to the transport, then marks them sent.

A relay claims due rows with a lease (several processes relay one outbox without publishing a
row twice while its lease holds, and keep per-key order), hands them to the transport in one
batch and waits for every acknowledgement. Delivered rows are completed; failed ones are
released with a growing delay (their key's later rows wait behind them) and become dead
letters after ``max_attempts``. A crash between delivery and completion publishes the row
again after its lease expires: consumers' inboxes make that harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from momentum.contracts.errors import MomentumError
from momentum.runtime.ports import RecordTransport
from momentum.runtime.store import DeadLetter, MessageStore, StoredMessage

logger = logging.getLogger("momentum.relay")

MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """How a relay claims, retries and purges.

    Attributes:
        owner: This relay's lease owner name (unique per process).
        destination_prefix: Only rows whose destination starts with this are relayed.
        batch_size: Rows claimed and published at once.
        lease_seconds: Lease of claimed rows.
        poll_seconds: Longest idle wait between claims.
        max_attempts: Failed publications of a row before it becomes a dead letter.
        sent_retention_seconds: Sent rows older than this are purged.
        inbox_retention_seconds: Inbox rows older than this are purged.
        purge_interval_seconds: Time between purges.
    """

    owner: str
    destination_prefix: str = ""
    batch_size: int = 500
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    max_attempts: int = 20
    sent_retention_seconds: float = 3600.0
    inbox_retention_seconds: float = 7 * 24 * 3600.0
    purge_interval_seconds: float = 60.0


def backoff(attempts: int) -> float:
    """Delay before publishing a row again after ``attempts`` failures (capped)."""
    return min(0.1 * 2.0 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


class OutboxRelay:
    """Moves outbox rows to a transport until stopped.

    Args:
        store: The message store holding the outbox.
        transport: Sends the claimed records.
        settings: Claiming, retry and purge settings.
        clock: POSIX time source.
    """

    def __init__(
        self,
        store: MessageStore,
        transport: RecordTransport,
        settings: RelaySettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.transport = transport
        self.settings = settings
        self._clock = clock
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._next_purge = 0.0
        self.relayed = 0
        self.failed = 0
        self.dead_lettered = 0
        self.last_error: str | None = None

    def start(self) -> None:
        """Start relaying in a background task."""
        if self._task is None:
            self._stopping = False
            name = f"outbox relay {self.settings.owner}"
            self._task = asyncio.create_task(self._run(), name=name)

    def kick(self) -> None:
        """Look for rows now (called after a local commit wrote outbox rows)."""
        self._idle.clear()
        self._wake.set()

    async def stop(self) -> None:
        """Finish the batch in progress and stop; unsent rows stay for the next relay."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        await task

    async def wait_idle(self) -> int:
        """Wait until a claim finds no row; returns how many rows were relayed meanwhile."""
        if self._task is None:
            return 0
        before = self.relayed + self.dead_lettered
        self.kick()
        await self._idle.wait()
        return self.relayed + self.dead_lettered - before

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                moved = await self.relay_once()
                await self._maybe_purge()
                failures = 0
                self.last_error = None
            except (MomentumError, OSError) as exc:
                failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = backoff(failures)
                logger.warning("outbox relay failed (%s); retrying in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                self._wake.clear()
                continue
            if moved:
                continue
            if self._wake.is_set():
                self._wake.clear()
                continue
            self._idle.set()
            await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        wake = asyncio.ensure_future(self._wake.wait())
        work = asyncio.ensure_future(
            self.store.wait_for_work(
                self.settings.poll_seconds, destination_prefix=self.settings.destination_prefix
            )
        )
        try:
            await asyncio.wait({wake, work}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (wake, work):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                elif not task.cancelled() and task.exception() is not None:
                    logger.debug("waiting for outbox work failed: %r", task.exception())
        self._wake.clear()

    async def relay_once(self) -> int:
        """Claim one batch, publish it and settle every row; returns the rows claimed."""
        s = self.settings
        rows = await self.store.claim(s.destination_prefix, s.owner, s.batch_size, s.lease_seconds)
        if not rows:
            return 0
        results = await self.transport.publish_records([row.record for row in rows])
        sent = [row.id for row, error in zip(rows, results, strict=True) if error is None]
        if sent:
            await self.store.complete(sent)
            self.relayed += len(sent)
        failed = [(row, e) for row, e in zip(rows, results, strict=True) if e is not None]
        for row, error in failed:
            await self._failed(row, error)
        return len(rows)

    async def _failed(self, row: StoredMessage, error: BaseException) -> None:
        self.failed += 1
        attempts = row.attempts + 1
        text = f"{type(error).__name__}: {error}"
        if attempts >= self.settings.max_attempts:
            await self._dead_letter(row, error, attempts)
            return
        delay = backoff(attempts)
        logger.warning(
            "publishing outbox row %d (%s to %s) failed (attempt %d): %s; again in %.1f s",
            row.id,
            row.record.message_id,
            row.record.destination,
            attempts,
            text,
            delay,
        )
        await self.store.release(
            [row.id], owner=self.settings.owner, available_at=self._clock() + delay, error=text
        )

    async def _dead_letter(self, row: StoredMessage, error: BaseException, attempts: int) -> None:
        now = self._clock()
        record = row.record
        message_type = next((v.decode() for k, v in record.headers if k == "ce_type"), None)
        klass = type(error)
        letter = DeadLetter(
            record=record,
            message_type=message_type,
            exception_type=f"{klass.__module__}.{klass.__qualname__}",
            exception_message=str(error),
            stack="",
            attempts=attempts,
            first_failure_at=row.created_at,
            last_failure_at=now,
        )
        async with self.store.transaction() as tx:
            await tx.add_dead_letter(letter)
        await self.store.complete([row.id])
        self.dead_lettered += 1
        logger.error(
            "outbox row %d (%s to %s) moved to dead letters after %d failed publications: %s",
            row.id,
            record.message_id,
            record.destination,
            attempts,
            error,
        )

    async def _maybe_purge(self) -> None:
        now = self._clock()
        if now < self._next_purge:
            return
        s = self.settings
        self._next_purge = now + s.purge_interval_seconds
        counts = await self.store.purge(
            now - s.sent_retention_seconds, now - s.inbox_retention_seconds
        )
        if counts.outbox or counts.inbox:
            logger.info("purged %d sent outbox and %d inbox rows", counts.outbox, counts.inbox)
