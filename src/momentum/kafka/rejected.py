"""``PoisonKeeper``: poison records kept in batches, off the consumer thread.

The dispatcher hands each poison record (a :class:`~momentum.runtime.ports.RejectedRecord`)
to the keeper with a callback that completes its offset. The keeper runs on the event loop,
one batch at a time, taking every record that arrived meanwhile (at most ``batch_size``):
the copies of the batch are produced to their ``<topic>.dlq`` and flushed once, then the
store's sink (when the service has a message store) writes the batch in one transaction;
only then do their offsets count as done. A flood of garbage is therefore kept at about the
rate of good records, and nothing waits for it: the consumer thread goes on fetching, other
records of every partition (its own included) are handled meanwhile, and only the commits
of a partition stay below its oldest poison record until that record is kept.

A record is kept once the store has it (its dead letter says where its copy went when that
copy is not on ``<topic>.dlq`` whole), or, without a store, once its copy is on
``<topic>.dlq``. A copy too large for the message size limit is written without its value
(logged, with where the whole record is). Without a store, a copy that keeps failing for
``give_up_after`` seconds is given up: logged at ERROR with its coordinates and committed
without any copy (the consumer must not be held back forever). A failing store is retried
(with backoff) until it answers or the partition is revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from momentum.kafka.dead_letters import DeadLetterCopies
from momentum.runtime.ports import RejectedRecord, RejectedSink

logger = logging.getLogger("momentum.kafka.dead_letters")

BATCH_SIZE = 1000
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
"""Delays before writing a batch again after a failure (the last one repeats)."""


@dataclass(slots=True)
class _Pending:
    record: RejectedRecord
    done: Callable[[], None]
    since: float = field(default_factory=time.monotonic)
    copied: bool = False
    """Its dead-letter copy was attempted (with a store: only the store is left to write)."""
    warned: bool = False


class PoisonKeeper:
    """Keeps poison records on ``<topic>.dlq`` and in the store, a batch at a time.

    Args:
        copies: Writes the dead-letter topic copies.
        sink: Returns the store's sink for rejected records (``None``: no store).
        give_up_after: Seconds a copy may keep failing (without a store) before the record
            is committed without one.
        batch_size: Records kept together at most.
    """

    def __init__(
        self,
        copies: DeadLetterCopies,
        sink: Callable[[], RejectedSink | None],
        *,
        give_up_after: float = 30.0,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._copies = copies
        self._sink = sink
        self._give_up_after = give_up_after
        self._batch_size = batch_size
        self._queue: deque[_Pending] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._writing = 0
        self.kept = 0
        """Poison records kept so far (in the store, or on their dead-letter topic)."""
        self.given_up = 0
        """Poison records committed without any copy (no store, ``.dlq`` unwritable)."""
        self.batches = 0
        """Batches written so far."""

    def start(self) -> None:
        """Start keeping (on the running loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="momentum-kafka-poison")

    def keep(self, record: RejectedRecord, done: Callable[[], None]) -> None:
        """Keep ``record``; ``done()`` once it is kept (or given up)."""
        self._queue.append(_Pending(record, done))
        self._idle.clear()
        self._wake.set()

    @property
    def pending(self) -> int:
        """Records handed over and not kept yet (queued or being written)."""
        return len(self._queue) + self._writing

    async def drain(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until everything handed over is kept; ``False`` after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop keeping (what is not kept yet stays uncommitted) and close the producer."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self._copies.close)

    async def _run(self) -> None:
        failures = 0
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            size = min(len(self._queue), self._batch_size)
            batch = [self._queue.popleft() for _ in range(size)]
            self._writing = size
            try:
                retry = await self._keep(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # a defect: the records are not lost, they stay uncommitted
                logger.exception("keeping %d poison record(s) failed", len(batch))
                retry = batch
            finally:
                self._writing = 0
            if retry:
                self._queue.extendleft(reversed(retry))
                await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
                failures += 1
            else:
                failures = 0

    async def _keep(self, batch: list[_Pending]) -> list[_Pending]:
        """Write one batch; the records to try again."""
        self.batches += 1
        sink = self._sink()
        todo = [p for p in batch if not (p.copied and sink is not None)]
        outcomes = await self._copies.write([p.record for p in todo]) if todo else []
        for pending, outcome in zip(todo, outcomes, strict=True):
            pending.copied = True
            if outcome.note:
                pending.record = replace(pending.record, copy_note=outcome.note)
            if sink is not None and outcome.note:
                logger.warning(
                    "poison record %s: %s; kept whole in the store's dead letters",
                    _where(pending.record),
                    outcome.note,
                )
        if sink is not None:
            return await self._store(sink, batch)
        retry: list[_Pending] = []
        for pending, outcome in zip(todo, outcomes, strict=True):
            if outcome.written:
                if outcome.value_omitted:
                    logger.error(
                        "poison record %s: %s; its value is kept nowhere (no message store)",
                        _where(pending.record),
                        outcome.note,
                    )
                self._done(pending)
            elif outcome.retriable and time.monotonic() - pending.since < self._give_up_after:
                if not pending.warned:
                    pending.warned = True
                    logger.warning(
                        "poison record %s: %s; retrying for up to %g s",
                        _where(pending.record),
                        outcome.note,
                        self._give_up_after,
                    )
                retry.append(pending)
            else:
                self.given_up += 1
                logger.error(
                    "poison record %s: %s; committed without any copy (no message store)",
                    _where(pending.record),
                    outcome.note,
                )
                pending.done()
        return retry

    async def _store(self, sink: RejectedSink, batch: list[_Pending]) -> list[_Pending]:
        """Write ``batch`` to the store's dead letters; all of it again when that failed."""
        try:
            await sink([p.record for p in batch])
        except Exception as exc:
            logger.warning(
                "%d poison record(s) could not be stored as dead letters (%s: %s); retrying "
                "(their offsets are not committed meanwhile)",
                len(batch),
                type(exc).__name__,
                exc,
            )
            return batch
        for pending in batch:
            self._done(pending)
        return []

    def _done(self, pending: _Pending) -> None:
        self.kept += 1
        pending.done()


def _where(record: RejectedRecord) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset} ({record.reason})"
