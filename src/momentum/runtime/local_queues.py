"""In-memory local queues: concurrent workers, strictly ordered per partition key.

A queue has ``concurrency`` lanes, each a FIFO worked by one task. Keyed work always goes to
the lane its key hashes to, so messages with one key are handled one at a time in order;
unkeyed work is spread round-robin. Work may ask to run again after a delay (a delayed
retry): its key is then *parked* — later work with that key waits behind it, in order,
while other keys in the lane keep flowing. Stopping drains what is queued and parked.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from momentum.contracts.errors import ConfigurationError

logger = logging.getLogger("momentum.local")

Work = Callable[[], Awaitable[float | None]]
"""Runs the work; returns ``None`` when finished, or seconds to wait before running it again
(the work keeps its own attempt count)."""


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


_tickets = itertools.count()


class PendingWork:
    """Counts queued, running and parked work; signals when all is done.

    A tracker with a ``parent`` (one queue's, inside a service's) reports to it as well.
    """

    def __init__(self, parent: PendingWork | None = None) -> None:
        self._items: dict[int, QueuedWork] = {}
        self._parent = parent
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, work: QueuedWork) -> int:
        """Record ``work`` as pending and return its ticket."""
        ticket = next(_tickets)
        tracker: PendingWork | None = self
        while tracker is not None:
            tracker._items[ticket] = work
            tracker._idle.clear()
            tracker = tracker._parent
        return ticket

    def done(self, ticket: int) -> None:
        """Mark the work with ``ticket`` finished."""
        tracker: PendingWork | None = self
        while tracker is not None:
            tracker._items.pop(ticket, None)
            if not tracker._items:
                tracker._idle.set()
            tracker = tracker._parent

    @property
    def count(self) -> int:
        """How many units are queued, running or parked."""
        return len(self._items)

    def describe(self) -> list[str]:
        """Descriptions of the pending units, oldest first."""
        return [work.description for work in self._items.values()]

    async def wait_idle(self) -> None:
        """Return once nothing is pending (immediately when idle)."""
        while self._items:
            await self._idle.wait()


@dataclass(slots=True)
class _Item:
    ticket: int
    work: QueuedWork
    resume: bool = False  # a parked key's delayed retry coming back


class _Lane:
    """One FIFO and its worker; owns the keys parked in it."""

    def __init__(self, queue: LocalQueue) -> None:
        self.queue = queue
        self.fifo: asyncio.Queue[_Item] = asyncio.Queue()
        self.parked: dict[str, deque[_Item]] = {}

    async def work(self) -> None:
        while True:
            item = await self.fifo.get()
            await self.queue.flowing.wait()  # after get: a pause while waiting must hold too
            key = item.work.key
            if item.resume:
                assert key is not None
                if await self._run(item):
                    await self._drain(key)
            elif key is not None and key in self.parked:
                self.parked[key].append(item)  # waits behind the parked retry, in order
            else:
                await self._run(item)

    async def _run(self, item: _Item) -> bool:
        """Run one attempt; True when finished, False when it was parked for a retry."""
        try:
            delay = await item.work.run()
        except asyncio.CancelledError:
            raise
        except Exception:  # the work's own error policy already ran; never kill the lane
            logger.exception("local queue %s: %s failed", self.queue.name, item.work.description)
            delay = None
        if delay is None:
            self.queue.pending.done(item.ticket)
            return True
        key = item.work.key
        if key is not None:
            self.parked.setdefault(key, deque())
        retry = _Item(item.ticket, item.work, resume=key is not None)
        self.queue.later(delay, self, retry)
        return False

    async def _drain(self, key: str) -> None:
        """After a parked retry finished: run what waited behind it, until one parks again."""
        waiting = self.parked[key]
        while waiting:
            if not await self._run(waiting.popleft()):
                return  # parked again; the rest keep waiting
        del self.parked[key]


class LocalQueue:
    """A named in-memory queue with ``concurrency`` ordered lanes."""

    def __init__(self, name: str, concurrency: int, pending: PendingWork) -> None:
        if concurrency < 1:
            raise ConfigurationError(f"local queue {name!r}: concurrency must be at least 1")
        self.name = name
        self.concurrency = concurrency
        self.pending = PendingWork(parent=pending)
        self._lanes: list[_Lane] = []
        self._workers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._next_lane = itertools.cycle(range(concurrency))
        self._accepting = False
        self.flowing = asyncio.Event()
        self.flowing.set()

    def start(self) -> None:
        """Start one worker task per lane."""
        if self._workers:
            return
        self._lanes = [_Lane(self) for _ in range(self.concurrency)]
        self._workers = [
            asyncio.create_task(lane.work(), name=f"momentum-local-{self.name}-{i}")
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
        index = hash(work.key) % self.concurrency if work.key is not None else next(self._next_lane)
        self._lanes[index].fifo.put_nowait(_Item(self.pending.add(work), work))

    def later(self, delay: float, lane: _Lane, item: _Item) -> None:
        """Put ``item`` back into ``lane`` after ``delay`` seconds."""
        loop = asyncio.get_running_loop()

        def put() -> None:
            self._timers.discard(handle)
            lane.fifo.put_nowait(item)

        handle = loop.call_later(max(0.0, delay), put)
        self._timers.add(handle)

    @property
    def parked_keys(self) -> int:
        """How many keys currently wait for a delayed retry."""
        return sum(len(lane.parked) for lane in self._lanes)

    def pause(self) -> None:
        """Stop starting new work (what runs finishes; enqueueing still works)."""
        self.flowing.clear()

    def resume(self) -> None:
        """Start work again after :meth:`pause`."""
        self.flowing.set()

    async def drain(self) -> None:
        """Return once everything queued, running or parked in this queue is finished."""
        await self.pending.wait_idle()

    async def stop(self) -> None:
        """Stop accepting and stop the workers; call :meth:`drain` first to finish work."""
        self._accepting = False
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
