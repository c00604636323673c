"""Candidates of the durable-latency benchmark: an idle relay's publish -> transport time.

Every candidate is a started ``Service`` (defaults) whose transport is an in-memory transport
that notes ``time.perf_counter_ns()`` when it is handed a message (``publish`` without a
store, ``publish_records`` from the relay). ``run(n)`` sends n messages one at a time; each
latency is from the moment the sending starts to that hand-off, and after each hand-off the
candidate sleeps ``IDLE_SECONDS`` so the relay is back waiting for work (idle) when the next
commit comes.

Two ways to commit the outbox row:

- *this process*: ``async with bus.transaction(): await bus.publish(event)`` in the service
  itself; the commit wakes its relay directly (``OutboxRelay.kick``), whatever the store.
- *another process*: a second store object on the same database (its own connections, as
  another process of the service would have) commits the row with ``add_outgoing``; the
  service's relay learns of it by LISTEN/NOTIFY on PostgreSQL and by polling (every 0.2 s,
  ``PRAGMA data_version``) on SQLite.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from bench.framework import Run, current_config
from bench.subjects.durable_support import (
    DOMAIN,
    ENVIRONMENT,
    postgres_schema,
    postgres_store,
    records,
    run_id,
    sqlite_directory,
    sqlite_store,
)
from bench.subjects.kafka_support import cashier_created

IDLE_SECONDS = 0.075
"""Pause after each hand-off: longer than the PostgreSQL store's 50 ms re-check interval,
so every commit finds the relay waiting, not re-checking."""

WAIT_SECONDS = 10.0


def _probe_transport() -> Any:
    from momentum.testing import InMemoryBroker, InMemoryTransport

    class ProbeTransport(InMemoryTransport):
        """Notes when it is handed a message."""

        def __init__(self) -> None:
            super().__init__(InMemoryBroker())
            self.at = 0
            self.arrived = asyncio.Event()

        def _mark(self) -> None:
            self.at = time.perf_counter_ns()
            self.arrived.set()
            self.broker.records.clear()
            self.broker.published.clear()

        async def publish(self, envelope: Any, destination: Any) -> None:
            self._mark()
            await super().publish(envelope, destination)

        async def publish_records(self, records: Sequence[Any]) -> list[BaseException | None]:
            self._mark()
            return await super().publish_records(records)

    return ProbeTransport()


@asynccontextmanager
async def _measured(
    send: Callable[[Any, int], Awaitable[None]], **options: Any
) -> AsyncIterator[Run]:
    """A started service; ``run(n)`` sends with ``send(service, i)`` and times the hand-off."""
    from momentum import Service

    probe = _probe_transport()
    service = Service("bench-latency", DOMAIN, transport=probe, environment=ENVIRONMENT, **options)
    sent = 0

    async def run(n: int) -> list[float]:
        nonlocal sent
        latencies: list[float] = []
        for _ in range(n):
            probe.arrived.clear()
            start = time.perf_counter_ns()
            await send(service, sent)
            sent += 1
            await asyncio.wait_for(probe.arrived.wait(), WAIT_SECONDS)
            latencies.append(probe.at - start)
            await asyncio.sleep(IDLE_SECONDS)
        return latencies

    async with service:
        if service.runtime.relay is not None:
            await service.runtime.relay.wait_idle()
        yield run


async def _publish(service: Any, i: int) -> None:
    await service.bus.publish(cashier_created(i))


async def _publish_in_transaction(service: Any, i: int) -> None:
    async with service.bus.transaction():
        await service.bus.publish(cashier_created(i))


def momentum_memory() -> Any:
    """No store: ``bus.publish`` hands the event to the transport."""
    return _measured(_publish, database_url="memory://")


@asynccontextmanager
async def momentum_postgres_local() -> AsyncIterator[Run]:
    """PostgreSQL, committed by the service itself (the relay is kicked)."""
    async with (
        postgres_schema("latency") as schema,
        _measured(_publish_in_transaction, store=postgres_store(schema)) as run,
    ):
        yield run


@asynccontextmanager
async def _other_process(store: Any, writer: Any) -> AsyncIterator[Run]:
    config = current_config()
    pending = records((config.ops or 10) * (config.rounds + 1), run_id())

    async def commit(service: Any, i: int) -> None:
        async with writer.transaction() as tx:
            await tx.add_outgoing([pending[i]])

    async with _measured(commit, store=store) as run:
        await writer.open()
        try:
            yield run
        finally:
            await writer.close()


@asynccontextmanager
async def momentum_postgres_notify() -> AsyncIterator[Run]:
    """PostgreSQL, committed by another store object (LISTEN/NOTIFY wakes the relay)."""
    async with (
        postgres_schema("notify") as schema,
        _other_process(postgres_store(schema), postgres_store(schema)) as run,
    ):
        yield run


@asynccontextmanager
async def momentum_sqlite_local() -> AsyncIterator[Run]:
    """SQLite, committed by the service itself (the relay is kicked)."""
    async with (
        sqlite_directory() as path,
        _measured(_publish_in_transaction, store=sqlite_store(path / "l.db")) as run,
    ):
        yield run


@asynccontextmanager
async def momentum_sqlite_poll() -> AsyncIterator[Run]:
    """SQLite, committed by another store object (the relay polls every 0.2 s)."""
    async with sqlite_directory() as path:
        file = path / "p.db"
        async with _other_process(sqlite_store(file), sqlite_store(file)) as run:
            yield run
