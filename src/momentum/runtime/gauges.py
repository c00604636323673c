"""``GaugeRefresher``: measures the service's gauges periodically for its telemetry.

Gauge callbacks of a metrics SDK run on its own thread, at its own pace; the values they
report need the event loop (a store query, the Kafka consumer's positions). A task measures
them every ``interval`` seconds and hands the snapshot to the telemetry, whose callbacks read
the latest one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from momentum.contracts.errors import MomentumError
from momentum.runtime.ports import LagReporting
from momentum.runtime.telemetry import Gauges, GaugeTelemetry

if TYPE_CHECKING:
    from momentum.runtime.core import BusRuntime

logger = logging.getLogger("momentum.telemetry")


class GaugeRefresher:
    """Refreshes the gauges of ``runtime`` for ``telemetry`` every ``interval`` seconds."""

    def __init__(self, runtime: BusRuntime, telemetry: GaugeTelemetry, interval: float) -> None:
        self.runtime = runtime
        self.telemetry = telemetry
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def measure(self) -> Gauges:
        """The gauges now (a value that cannot be measured is left out)."""
        runtime = self.runtime
        backlog = age = inbox = letters = None
        if runtime.store is not None:
            try:
                stats = await runtime.store.stats()
            except MomentumError as exc:
                logger.debug("gauges: store statistics unavailable: %s", exc)
            else:
                backlog, age = stats.backlog, stats.oldest_pending_age_seconds
                inbox, letters = stats.inbox_size, stats.dead_letters
        lag: dict[tuple[str, int], int] = {}
        transport = runtime.transport
        if isinstance(transport, LagReporting):
            try:
                lag = await transport.consumer_lag()
            except MomentumError as exc:
                logger.debug("gauges: consumer lag unavailable: %s", exc)
        breaker = runtime.circuit_breaker
        durability = runtime.durability
        return Gauges(
            inbox_unsettled=durability.commits.unsettled if durability is not None else None,
            outbox_backlog=backlog,
            outbox_oldest_age=age,
            inbox_size=inbox,
            dead_letters=letters,
            consumer_lag=lag,
            breaker=breaker.state.value if breaker is not None else None,
            tenant_skipped=runtime.tenant_skipped,
        )

    async def refresh(self) -> None:
        """Measure once and hand the values over."""
        self.telemetry.observe(await self.measure())

    def start(self) -> None:
        """Refresh in a background task until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="momentum gauges")

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # a gauge must never end the service
                logger.exception("measuring the service's gauges failed")
            await asyncio.sleep(self.interval)  # the refresh period itself

    async def stop(self) -> None:
        """Stop refreshing."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
