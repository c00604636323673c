"""A background task that claims store rows of one destination prefix until stopped.

The outbox relay and the durable local queues both run one: look for rows (a *cycle*), and
when a cycle finds none, sleep until the store signals work (a commit, a due row, an expired
lease), this process kicks the loop, or the poll interval passes. Store failures back off
and the loop keeps going.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from momentum.contracts.errors import MomentumError
from momentum.runtime.store import MessageStore

logger = logging.getLogger("momentum.claims")

MAX_BACKOFF_SECONDS = 30.0


def backoff(attempts: int) -> float:
    """Delay after ``attempts`` consecutive failures (capped exponential)."""
    return min(0.1 * 2.0 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


class ClaimLoop:
    """Runs :meth:`cycle` in a task until stopped, idling while the store has no work.

    Args:
        store: The message store.
        prefix: Destination prefix whose rows the loop claims (for the store's wake-ups).
        poll_seconds: Longest idle wait between cycles.
        name: Task name and log wording (``outbox relay``, ``local queues``).
    """

    def __init__(self, store: MessageStore, prefix: str, poll_seconds: float, name: str) -> None:
        self.store = store
        self.prefix = prefix
        self.poll_seconds = poll_seconds
        self.name = name
        self.taken = 0
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def cycle(self) -> int:
        """Claim and handle one batch; returns how many rows it took (0: nothing to do)."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the loop in a background task."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=self.name)

    def kick(self) -> None:
        """Look for rows now (this process committed or finished some)."""
        self._idle.clear()
        self._wake.set()

    async def stop(self) -> None:
        """Finish the cycle in progress and stop; unclaimed rows stay for the next start."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        await task

    async def wait_idle(self) -> int:
        """Wait until a cycle finds no row; returns how many rows were taken meanwhile."""
        if self._task is None:
            return 0
        before = self.taken
        self.kick()
        await self._idle.wait()
        return self.taken - before

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                moved = await self.cycle()
                failures = 0
                self.last_error = None
            except (MomentumError, OSError) as exc:
                failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = backoff(failures)
                logger.warning("%s failed (%s); again in %.1f s", self.name, exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                self._wake.clear()
                continue
            self.taken += moved
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
            self.store.wait_for_work(self.poll_seconds, destination_prefix=self.prefix)
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
                    logger.debug("%s: waiting for work failed: %r", self.name, task.exception())
        self._wake.clear()
