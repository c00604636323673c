"""In-memory local queues: concurrent workers, strictly ordered per partition key.

A queue has ``concurrency`` lanes, each a FIFO worked by one task. Keyed work always goes to
the lane its key hashes to, so messages with one key are handled one at a time in order;
unkeyed work is spread round-robin. Stopping drains what is queued.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from momentum.contracts.errors import ConfigurationError

logger = logging.getLogger("momentum.local")

Work = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class QueuedWork:
    """A unit of work waiting in (or running from) a local queue.

    Attributes:
        run: The coroutine function to execute.
        description: What it is, for reports of pending work.
        key: Partition key that orders it, if any.
    """

    run: Work
    description: str
    key: str | None


class PendingWork:
    """Counts queued and running work across queues; signals when everything is done."""

    def __init__(self) -> None:
        self._items: dict[int, QueuedWork] = {}
        self._ids = itertools.count()
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, work: QueuedWork) -> int:
        """Record ``work`` as pending and return its ticket."""
        ticket = next(self._ids)
        self._items[ticket] = work
        self._idle.clear()
        return ticket

    def done(self, ticket: int) -> None:
        """Mark the work with ``ticket`` finished."""
        self._items.pop(ticket, None)
        if not self._items:
            self._idle.set()

    @property
    def count(self) -> int:
        """How many units are queued or running."""
        return len(self._items)

    def describe(self) -> list[str]:
        """Descriptions of the pending units, oldest first."""
        return [work.description for work in self._items.values()]

    async def wait_idle(self) -> None:
        """Return once nothing is pending (immediately when idle)."""
        while self._items:
            await self._idle.wait()


class LocalQueue:
    """A named in-memory queue with ``concurrency`` ordered lanes."""

    def __init__(self, name: str, concurrency: int, pending: PendingWork) -> None:
        if concurrency < 1:
            raise ConfigurationError(f"local queue {name!r}: concurrency must be at least 1")
        self.name = name
        self.concurrency = concurrency
        self._pending = pending
        self._lanes: list[asyncio.Queue[tuple[int, QueuedWork]]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._next_lane = itertools.cycle(range(concurrency))
        self._accepting = False

    def start(self) -> None:
        """Start one worker task per lane."""
        if self._workers:
            return
        self._lanes = [asyncio.Queue() for _ in range(self.concurrency)]
        self._workers = [
            asyncio.create_task(self._work(lane), name=f"momentum-local-{self.name}-{i}")
            for i, lane in enumerate(self._lanes)
        ]
        self._accepting = True

    def enqueue(self, work: QueuedWork) -> None:
        """Queue ``work``; keyed work keeps its order relative to the same key."""
        if not self._accepting:
            raise ConfigurationError(
                f"local queue {self.name!r} is not running; start the service first "
                "(async with service: ...)"
            )
        lane = hash(work.key) % self.concurrency if work.key is not None else next(self._next_lane)
        ticket = self._pending.add(work)
        self._lanes[lane].put_nowait((ticket, work))

    async def _work(self, lane: asyncio.Queue[tuple[int, QueuedWork]]) -> None:
        while True:
            ticket, work = await lane.get()
            try:
                await work.run()
            except asyncio.CancelledError:
                raise
            except Exception:  # the work's own error policy already ran; never kill the lane
                logger.exception("local queue %s: %s failed", self.name, work.description)
            finally:
                lane.task_done()
                self._pending.done(ticket)

    async def stop(self) -> None:
        """Stop accepting, let the lanes drain, then stop the workers."""
        self._accepting = False
        for lane in self._lanes:
            await lane.join()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
