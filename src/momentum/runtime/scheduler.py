"""In-memory scheduling of messages for later delivery (lost on stop; durable stores persist)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger("momentum.scheduler")


class InMemoryScheduler:
    """Runs a coroutine function when its due time (POSIX seconds) arrives."""

    def __init__(self) -> None:
        self._handles: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def schedule(self, due: float, fire: Callable[[], Awaitable[None]], what: str) -> None:
        """Call ``fire`` at ``due``; ``what`` names it in logs."""
        loop = asyncio.get_running_loop()
        delay = max(0.0, due - time.time())

        def run() -> None:
            self._handles.discard(handle)
            task = loop.create_task(self._fire(fire, what))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        handle = loop.call_later(delay, run)
        self._handles.add(handle)

    async def _fire(self, fire: Callable[[], Awaitable[None]], what: str) -> None:
        try:
            await fire()
        except Exception:
            logger.exception("scheduled delivery of %s failed", what)

    @property
    def pending(self) -> int:
        """How many deliveries are waiting for their time."""
        return len(self._handles)

    async def stop(self) -> None:
        """Cancel what has not come due; wait for deliveries already firing."""
        if self._handles:
            logger.warning(
                "%d scheduled message(s) not yet due are discarded on stop "
                "(the in-memory scheduler is not durable)",
                len(self._handles),
            )
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
