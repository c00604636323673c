"""The outbox relay: publishes committed outbox rows to the transport, then marks them sent.

A relay claims due rows (several processes relay one outbox without publishing a row twice,
and keep per-key order), hands them to the transport in one batch and settles each row by its
own outcome: acknowledged rows are completed, failed ones are released with a growing delay
(their key's later rows wait behind them) and become dead letters after ``max_attempts``.

A claim is held at most ``hold_seconds`` (never longer than half the lease) waiting for
acknowledgements. Rows still unacknowledged then (a topic missing from the broker's metadata,
a broker away) are leased to this relay and the claim ends: the rows acknowledged so far are
committed as sent, and nothing waits for the slow row but its own stream. A watcher renews
the lease while the record is in flight and settles the row when its outcome arrives. A crash
between delivery and completion publishes the row again after its lease expires: consumers'
inboxes make that harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from momentum.contracts.errors import MomentumError
from momentum.runtime.claim_loop import ClaimLoop, backoff
from momentum.runtime.dead_letters import exception_name
from momentum.runtime.ports import PENDING, RecordDeliveries, RecordOutcome, RecordTransport
from momentum.runtime.store import (
    ClaimedRows,
    DeadLetter,
    LeasedRows,
    MessageStore,
    StoredMessage,
)
from momentum.runtime.stored_dead_letters import header_text
from momentum.runtime.telemetry import NOTHING, Telemetry

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
        hold_seconds: Longest wait for acknowledgements while a claim is held (at most half
            of ``lease_seconds``); rows unacknowledged by then are leased and settled later.
        max_unsettled_batches: Batches whose late rows may be in flight at once before the
            relay waits for one of them to settle.
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
    hold_seconds: float = 1.0
    max_unsettled_batches: int = 4


class OutboxRelay(ClaimLoop):
    """Moves outbox rows to a transport until stopped.

    Args:
        store: The message store holding the outbox.
        transport: Sends the claimed records.
        settings: Claiming, retry and purge settings.
        clock: POSIX time source.
        telemetry: Reports each batch (a span linked to each row's producer span).
    """

    def __init__(
        self,
        store: MessageStore,
        transport: RecordTransport,
        settings: RelaySettings,
        clock: Callable[[], float] = time.time,
        *,
        telemetry: Telemetry | None = None,
    ) -> None:
        super().__init__(
            store,
            settings.destination_prefix,
            settings.poll_seconds,
            f"outbox relay {settings.owner}",
        )
        self.transport = transport
        self.settings = settings
        self.telemetry = telemetry
        self._clock = clock
        self._next_purge = 0.0
        self.relayed = 0
        self.failed = 0
        self.dead_lettered = 0
        self._late: set[asyncio.Task[None]] = set()

    async def cycle(self) -> int:
        """One batch relayed, then a purge when one is due."""
        moved = await self.relay_once()
        await self._maybe_purge()
        return moved

    @property
    def unsettled(self) -> int:
        """Batches with rows published but not yet acknowledged or failed (leased meanwhile)."""
        return len(self._late)

    async def relay_once(self) -> int:
        """Claim one batch, publish it and settle every row; returns the rows claimed.

        The claim ends once every row is settled or ``hold_seconds`` passed; rows still in
        flight then are leased and settled by a watcher when their outcome arrives.
        """
        s = self.settings
        while len(self._late) >= max(s.max_unsettled_batches, 1):
            await asyncio.wait(set(self._late), return_when=asyncio.FIRST_COMPLETED)
        hold = max(min(s.hold_seconds, s.lease_seconds / 2), 0.0)
        late: list[tuple[int, StoredMessage]] = []
        async with self.store.claimed(
            s.destination_prefix, s.owner, s.batch_size, s.lease_seconds
        ) as claimed:
            rows = claimed.rows
            if not rows:
                return 0
            deadline = time.monotonic() + hold
            records = [row.record for row in rows]
            telemetry = self.telemetry
            with telemetry.relaying(records) if telemetry is not None else NOTHING:
                deliveries = await self.transport.start_records(records)
                await deliveries.wait(deadline - time.monotonic())
            late = await self._settle(claimed, list(enumerate(rows)), deliveries.outcomes())
            if late:
                await claimed.lease([row.id for _, row in late], s.lease_seconds)
        if late:
            self._watch(late, deliveries)
        return len(rows)

    async def _settle(
        self,
        claimed: ClaimedRows,
        rows: Sequence[tuple[int, StoredMessage]],
        outcomes: Sequence[RecordOutcome],
    ) -> list[tuple[int, StoredMessage]]:
        """Complete acknowledged rows, release or bury failed ones; the rows still pending."""
        sent: list[int] = []
        failed: list[tuple[StoredMessage, BaseException]] = []
        pending: list[tuple[int, StoredMessage]] = []
        for index, row in rows:
            outcome = outcomes[index]
            if outcome is None:
                sent.append(row.id)
            elif outcome is PENDING:
                pending.append((index, row))
            else:
                failed.append((row, outcome))
        if sent:
            await claimed.complete(sent)
            self.relayed += len(sent)
        for row, error in failed:
            await self._failed(claimed, row, error)
        return pending

    def _watch(self, rows: list[tuple[int, StoredMessage]], deliveries: RecordDeliveries) -> None:
        logger.info(
            "%d outbox row(s) not acknowledged within %.1f s (first: %d to %s); leased to %s"
            " until they are",
            len(rows),
            min(self.settings.hold_seconds, self.settings.lease_seconds / 2),
            rows[0][1].id,
            rows[0][1].record.destination,
            self.settings.owner,
        )
        task = asyncio.create_task(self._settle_late(rows, deliveries), name=f"{self.name} late")
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _settle_late(
        self, rows: list[tuple[int, StoredMessage]], deliveries: RecordDeliveries
    ) -> None:
        """Renew the lease of ``rows`` while they are in flight, then settle each."""
        s = self.settings
        owner = s.owner
        renew_every = max(s.lease_seconds / 3, 0.05)
        failures = 0
        while True:
            try:
                if await deliveries.wait(renew_every):
                    held = LeasedRows(self.store, owner, [row for _, row in rows])
                    await self._settle(held, rows, deliveries.outcomes())
                    return
                outcomes = deliveries.outcomes()
                ids = [row.id for index, row in rows if outcomes[index] is PENDING]
                await self.store.extend_lease(ids, owner=owner, lease_seconds=s.lease_seconds)
                failures = 0
            except (MomentumError, OSError) as exc:
                # The rows stay leased: they are published again once the lease expires.
                failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "%s: settling %d late outbox row(s) failed (%s); again in %.1f s",
                    self.name,
                    len(rows),
                    exc,
                    backoff(failures),
                )
                await asyncio.sleep(backoff(failures))

    async def wait_idle(self) -> int:
        """Wait until every late row is settled and a cycle finds no row; rows taken."""
        taken = 0
        while True:
            while self._late:
                await asyncio.wait(set(self._late))
            taken += await super().wait_idle()
            if not self._late:
                return taken

    async def close(self, timeout: float) -> None:  # noqa: ASYNC109
        """After :meth:`stop` and the transport's stop: wait for late rows to settle.

        At most ``timeout`` seconds; rows still unsettled then stay leased and are published
        again once their lease expires.
        """
        if not self._late:
            return
        _, pending = await asyncio.wait(set(self._late), timeout=timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if pending:
            logger.warning(
                "%s stopped with %d batch(es) of outbox rows unsettled; they are published"
                " again once their lease expires",
                self.name,
                len(pending),
            )

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
        if self.telemetry is not None:
            self.telemetry.dead_lettered(letter.message_type, None, "relay")
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
