"""The outbox relay: several relays on one outbox, and a PostgreSQL restart while relaying."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from momentum_fixture_bus.shipping.integration_events import ParcelShipped
from private_postgres import PrivateCluster

from momentum import Service
from momentum.contracts.envelope import Envelope
from momentum.runtime.records import encode_outgoing
from momentum.runtime.store import MessageStore, StoreTransaction
from momentum.testing import InMemoryBroker

MakeStore = Callable[[str], MessageStore]
TOPIC = "dev.momentumfixturebus.public.parcels.v1"


async def fill_outbox(store: MessageStore, keys: int, per_key: int, first: int = 0) -> list[str]:
    """Commit ``keys * per_key`` outbox rows (interleaved keys); returns their message ids."""
    records = []
    for seq in range(first, first + per_key):
        for k in range(keys):
            envelope = Envelope(ParcelShipped(f"w{k}", seq), source="/logistics/warehouse")
            records.append(encode_outgoing(envelope, TOPIC, f"w{k}"))
    await store.open()
    async with store.transaction() as tx:
        await tx.add_outgoing(records)
    await store.close()
    return [r.message_id for r in records]


async def wait_until(condition: Callable[[], bool], limit: float, what: str) -> None:
    """Wait until ``condition()`` holds; fail naming ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit} s waiting for {what}")
        await asyncio.sleep(0.01)  # poll interval, not a wait for an outcome


def order_problems(seen: dict[str, list[int]], keys: int, per_key: int) -> list[str]:
    """What differs from every key handled once, in order: duplicates, gaps, reorderings."""
    problems = []
    for k in range(keys):
        got = seen.get(f"w{k}", [])
        if got != list(range(per_key)):
            pairs = zip(got, range(per_key), strict=False)
            first = next((i for i, (a, b) in enumerate(pairs) if a != b), None)
            dups = sorted({n for n in got if got.count(n) > 1})
            problems.append(
                f"w{k}: {len(got)} handled, first wrong index {first}, twice {dups[:10]}"
            )
    return problems


def consumer(broker: InMemoryBroker, store: MessageStore | None = None) -> tuple[Service, dict]:
    seen: dict[str, list[int]] = {}

    async def on_parcel(event: ParcelShipped) -> None:
        seen.setdefault(event.warehouse, []).append(event.seq)

    service = Service(
        "tracking",
        "Logistics",
        transport=broker.transport(),
        store=store,
        database_url="memory://",
    )
    service.add_handler(on_parcel)
    return service, seen


async def test_two_relays_share_one_outbox_without_duplicates_in_key_order(
    make_store: MakeStore,
) -> None:
    broker = InMemoryBroker()
    tracking, seen = consumer(broker)
    relays = [
        Service(
            "warehouse", "Logistics", transport=broker.transport(), store=make_store("warehouse")
        )
        for _ in range(2)
    ]
    for service in relays:  # two processes of one service, small batches to interleave
        service.settings.store.relay_batch_size = 20
    async with tracking, relays[0], relays[1]:
        ids: list[str] = []
        for seq in range(0, 150, 10):  # commits keep coming while both relays run
            ids += await fill_outbox(make_store("warehouse"), keys=8, per_key=10, first=seq)
        await wait_until(lambda: len(broker.records) >= len(ids), 30, "every row relayed")
        await tracking.runtime.wait_idle()

        def shares() -> list[int]:
            return [s.runtime.relay.relayed if s.runtime.relay else 0 for s in relays]

        await wait_until(lambda: sum(shares()) == len(ids), 10, f"rows completed {shares()}")
    assert sorted(r.message_id for r in broker.records) == sorted(ids)  # none twice
    assert order_problems(seen, 8, 150) == []


@pytest.fixture
async def private_postgres() -> AsyncIterator[PrivateCluster]:
    cluster = await asyncio.to_thread(PrivateCluster)
    await asyncio.to_thread(cluster.start)
    yield cluster
    await asyncio.to_thread(cluster.remove)


async def test_postgres_restart_while_relaying_delivers_everything_once(
    private_postgres: PrivateCluster,
) -> None:
    """Rows relayed, handled and recorded across a restart: each once, in key order.

    The consumer's effect is a row written in its handler's transaction (with its inbox
    row): a handler whose commit was cut by the restart runs again, and only committed
    effects count, exactly as in production.
    """
    import psycopg

    from momentum.postgres import PostgresStore

    def store(schema: str) -> PostgresStore:
        return PostgresStore(private_postgres.url, schema=schema, poll_interval=0.5)

    async with await psycopg.AsyncConnection.connect(private_postgres.url, autocommit=True) as c:
        await c.execute("CREATE TABLE parcels (id bigserial, warehouse text, seq int)")

    async def record_parcel(event: ParcelShipped, tx: StoreTransaction) -> None:
        await tx.connection.execute(
            "INSERT INTO parcels (warehouse, seq) VALUES (%s, %s)", (event.warehouse, event.seq)
        )

    broker = InMemoryBroker()
    ids = await fill_outbox(store("warehouse"), keys=4, per_key=500)
    tracking = Service("tracking", "Logistics", transport=broker.transport(), store=store("t"))
    tracking.add_handler(record_parcel)
    warehouse = Service(
        "warehouse", "Logistics", transport=broker.transport(), store=store("warehouse")
    )
    warehouse.settings.store.relay_batch_size = 100
    async with tracking, warehouse:
        await wait_until(lambda: len(broker.records) >= 200, 30, "relaying to start")
        await asyncio.to_thread(private_postgres.restart)
        await wait_until(lambda: len(broker.records) >= len(ids), 60, "every row relayed")
        await asyncio.wait_for(tracking.runtime.wait_idle(), 60)
        stats = await warehouse.store.stats() if warehouse.store else None
    async with await psycopg.AsyncConnection.connect(private_postgres.url) as c:
        rows = await (await c.execute("SELECT warehouse, seq FROM parcels ORDER BY id")).fetchall()
    seen: dict[str, list[int]] = {}
    for warehouse_name, seq in rows:
        seen.setdefault(warehouse_name, []).append(seq)
    assert {r.message_id for r in broker.records} == set(ids)
    assert order_problems(seen, 4, 500) == []  # once each, in key order
    assert stats is not None and stats.backlog == 0
