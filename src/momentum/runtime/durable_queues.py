"""Durable local queues: local deliveries kept as store rows until their handler finished.

With a message store, a command sent or a domain event published for a local handler is an
outbox row for the destination ``local:<group>/<handler>`` (written in the sender's transaction when
there is one). Any process of the service claims due rows with a lease, runs the handler in
a transaction holding its inbox row, and marks the row sent once the handler finished
(handled, dead-lettered or discarded). Rows of one key are claimed one at a time (a row is
claimed only after every older row of its stream was sent), so each key stays in order across
processes. Rows survive a stop or a crash: an abandoned lease expires and another claim takes
the row; the inbox keeps a handler that had committed from running twice. A row due later is
a durable scheduled message.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from momentum.contracts.envelope import Origin
from momentum.contracts.errors import SerializationError, StoreError
from momentum.runtime.claim_loop import ClaimLoop
from momentum.runtime.records import RecordReader
from momentum.runtime.store import DeadLetter, MessageStore, StoredMessage, bury, local_handler
from momentum.runtime.stored_dead_letters import header_text

if TYPE_CHECKING:
    from momentum.contracts.envelope import Envelope
    from momentum.runtime.pipeline import HandlerChain

logger = logging.getLogger("momentum.local")

TRANSPORT_NAME = "local"


class DurableWork:
    """One claimed row's handler run; completes the row once the handler finished."""

    __slots__ = ("_attempt", "_complete", "_finished", "next_attempt")

    def __init__(
        self,
        attempt: Callable[[int], Awaitable[tuple[float | None, int]]],
        complete: Callable[[], Awaitable[None]],
        first_attempt: int = 1,
    ) -> None:
        self._attempt = attempt
        self._complete = complete
        self._finished = False
        self.next_attempt = max(first_attempt, 1)

    async def __call__(self) -> float | None:
        """Run the handler (again); ``None`` once the row is marked sent, else a delay."""
        if not self._finished:
            delay, self.next_attempt = await self._attempt(self.next_attempt)
            if delay is not None:
                return delay
            self._finished = True
        try:
            await self._complete()
        except StoreError as exc:
            logger.warning("marking a local message done failed (%s); trying again", exc)
            return 1.0
        return None


class DurableLocalQueues(ClaimLoop):
    """Claims ``local:`` rows and hands them to the in-memory lanes that run their handler.

    Args:
        store: The message store.
        chains: The handler of each name.
        enqueue: Puts a row's work on its handler's local queue.
        attempt: Runs a handler on an envelope from an attempt on (inbox transaction).
        prefix: Destination prefix of this service's rows (``local:<group>/``).
        owner: Lease owner name of this process.
        batch_size: Rows claimed at once.
        lease_seconds: Lease of claimed rows.
        poll_seconds: Longest wait between claims when idle.
        group: Consumer group of the service, recorded on the dead letters it writes.
    """

    def __init__(
        self,
        store: MessageStore,
        chains: Callable[[], dict[str, HandlerChain]],
        enqueue: Callable[[HandlerChain, Envelope, str | None, DurableWork], None],
        attempt: Callable[[HandlerChain, Envelope, int], Awaitable[tuple[float | None, int]]],
        *,
        prefix: str,
        owner: str,
        batch_size: int = 500,
        lease_seconds: float = 300.0,
        poll_seconds: float = 1.0,
        group: str | None = None,
    ) -> None:
        super().__init__(store, prefix, poll_seconds, f"local queues {owner}")
        self._group = group
        self._chains = chains
        self._enqueue = enqueue
        self._attempt = attempt
        self.owner = owner
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self._reader: RecordReader | None = None
        self._held: set[int] = set()
        self.completed = 0

    def start(self) -> None:
        """Start claiming in a background task."""
        types = {chain.message_type for chain in self._chains().values()}
        self._reader = RecordReader(types)
        super().start()

    async def release_held(self) -> None:
        """Give back rows claimed but not finished (a bounded stop abandoned them)."""
        held, self._held = sorted(self._held), set()
        if held:
            with contextlib.suppress(StoreError):
                await self.store.release(held, owner=self.owner)
            logger.warning("released %d unfinished local message(s) for the next start", len(held))

    async def cycle(self) -> int:
        """Claim due rows and queue each for its handler."""
        rows = await self.store.claim(self.prefix, self.owner, self.batch_size, self.lease_seconds)
        for row in rows:
            await self._dispatch(row)
        return len(rows)

    @property
    def in_flight(self) -> int:
        """Rows claimed and not yet finished."""
        return len(self._held)

    async def _dispatch(self, row: StoredMessage) -> None:
        record = row.record
        handler = local_handler(record.destination)
        chain = self._chains().get(handler)
        if chain is None:
            await self._unusable(row, "no-handler", f"no handler named {handler!r} in this service")
            return
        assert self._reader is not None
        try:
            envelope = self._reader.read(
                record, Origin(TRANSPORT_NAME, record.destination, None, row.id)
            )
        except SerializationError as exc:
            await self._unusable(row, getattr(exc, "reason", "undecodable"), str(exc))
            return
        self._held.add(row.id)

        async def attempt(number: int) -> tuple[float | None, int]:
            return await self._attempt(chain, envelope, number)

        async def complete() -> None:
            await self.store.complete([row.id])
            self._held.discard(row.id)
            self.completed += 1
            self.kick()  # the next row of this key may be claimed now

        # a scheduled retry carries its attempt number: the error rule goes on from there
        work = DurableWork(attempt, complete, envelope.attempts)
        self._enqueue(chain, envelope, record.key, work)

    async def _unusable(self, row: StoredMessage, reason: str, detail: str) -> None:
        """A row no handler can run: straight to dead letters with the reason."""
        record = row.record
        now = row.available_at
        letter = DeadLetter(
            record=record,
            message_type=header_text(record.headers, "ce_type"),
            exception_type=f"momentum.{reason}",
            exception_message=detail,
            stack="",
            attempts=0,
            first_failure_at=now,
            last_failure_at=now,
            handler=local_handler(record.destination),
            group=self._group,
        )
        await bury(self.store, row.id, letter)
        logger.error("local message %s dead-lettered: %s", record.message_id, detail)
