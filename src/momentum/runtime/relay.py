"""The outbox relay: publishes committed outbox rows to the transport, then marks them sent.

A relay claims due rows with a lease (several processes relay one outbox without publishing a
row twice while its lease holds, and keep per-key order), hands them to the transport in one
batch and waits for every acknowledgement. Delivered rows are completed; failed ones are
released with a growing delay (their key's later rows wait behind them) and become dead
letters after ``max_attempts``. A crash between delivery and completion publishes the row
again after its lease expires: consumers' inboxes make that harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from momentum.runtime.claim_loop import ClaimLoop, backoff
from momentum.runtime.dead_letters import exception_name
from momentum.runtime.ports import RecordTransport
from momentum.runtime.store import ClaimedRows, DeadLetter, MessageStore, StoredMessage
from momentum.runtime.stored_dead_letters import header_text

logger = logging.getLogger("momentum.relay")


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
        group: Consumer group of the service, recorded on the dead letters it writes.
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
    group: str | None = None


class OutboxRelay(ClaimLoop):
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
        super().__init__(
            store,
            settings.destination_prefix,
            settings.poll_seconds,
            f"outbox relay {settings.owner}",
        )
        self.transport = transport
        self.settings = settings
        self._clock = clock
        self._next_purge = 0.0
        self.relayed = 0
        self.failed = 0
        self.dead_lettered = 0

    async def cycle(self) -> int:
        """One batch relayed, then a purge when one is due."""
        moved = await self.relay_once()
        await self._maybe_purge()
        return moved

    async def relay_once(self) -> int:
        """Claim one batch, publish it and settle every row; returns the rows claimed."""
        s = self.settings
        async with self.store.claimed(
            s.destination_prefix, s.owner, s.batch_size, s.lease_seconds
        ) as claimed:
            rows = claimed.rows
            if not rows:
                return 0
            results = await self.transport.publish_records([row.record for row in rows])
            sent = [row.id for row, error in zip(rows, results, strict=True) if error is None]
            if sent:
                await claimed.complete(sent)
                self.relayed += len(sent)
            failed = [(row, e) for row, e in zip(rows, results, strict=True) if e is not None]
            for row, error in failed:
                await self._failed(claimed, row, error)
        return len(rows)

    async def _failed(self, claimed: ClaimedRows, row: StoredMessage, error: BaseException) -> None:
        self.failed += 1
        attempts = row.attempts + 1
        text = f"{type(error).__name__}: {error}"
        if attempts >= self.settings.max_attempts:
            await self._dead_letter(claimed, row, error, attempts)
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
        await claimed.release([row.id], available_at=self._clock() + delay, error=text)

    async def _dead_letter(
        self, claimed: ClaimedRows, row: StoredMessage, error: BaseException, attempts: int
    ) -> None:
        now = self._clock()
        record = row.record
        letter = DeadLetter(
            record=record,
            message_type=header_text(record.headers, "ce_type"),
            exception_type=exception_name(error),
            exception_message=str(error),
            stack="",
            attempts=attempts,
            first_failure_at=row.created_at,
            last_failure_at=now,
            group=self.settings.group,
        )
        await claimed.bury(row.id, letter)
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
