"""Transactional outbox and idempotent inbox, on SQLite files and PostgreSQL schemas.

The transport is the in-memory broker here (the store is what is under test); the Kafka
variant lives in tests/kafka.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import pytest
from momentum_fixture_bus.shipping.integration_events import ParcelShipped

from momentum import Command, PartitionKey, Service
from momentum.contracts.errors import HandlerConfigurationError
from momentum.runtime.policies import ErrorRule
from momentum.runtime.store import DeadLetterFilter, MessageStore, StoreTransaction
from momentum.testing import InMemoryBroker, tracked

MakeStore = Callable[[str], MessageStore]


@dataclass(frozen=True)
class Ship(Command[None]):
    warehouse: Annotated[str, PartitionKey()]
    seq: int
    fail: bool = False


class Boom(Exception):
    pass


async def ship(command: Ship, tx: StoreTransaction) -> ParcelShipped:
    if command.fail:
        raise Boom(f"rolled back {command.seq}")
    return ParcelShipped(command.warehouse, command.seq)


def services(broker: InMemoryBroker, make_store: MakeStore) -> tuple[Service, Service, list[int]]:
    seen: list[int] = []

    async def on_parcel(event: ParcelShipped) -> None:
        seen.append(event.seq)

    warehouse = Service(
        "warehouse", "Logistics", transport=broker.transport(), store=make_store("warehouse")
    )
    warehouse.add_handler(ship)
    tracking = Service(
        "tracking", "Logistics", transport=broker.transport(), store=make_store("tracking")
    )
    tracking.add_handler(on_parcel)
    return warehouse, tracking, seen


async def test_commit_relays_each_event_exactly_once(make_store: MakeStore) -> None:
    broker = InMemoryBroker()
    warehouse, tracking, seen = services(broker, make_store)
    async with warehouse, tracking:
        async with tracked(warehouse, tracking):
            for seq in range(20):
                await warehouse.bus.invoke(Ship("north", seq))
        stats = await warehouse.store.stats() if warehouse.store else None
    assert seen == list(range(20))
    assert [r.message_id for r in broker.records] == [
        str(e.message_id) for _, e in broker.published
    ]
    assert len(broker.records) == 20
    assert stats is not None and stats.backlog == 0


async def test_rollback_after_publish_relays_nothing(make_store: MakeStore) -> None:
    broker = InMemoryBroker()
    warehouse, tracking, seen = services(broker, make_store)
    async with warehouse, tracking, tracked(warehouse, tracking):
        with pytest.raises(Boom):
            await warehouse.bus.invoke(Ship("north", 1, fail=True))
        await warehouse.bus.invoke(Ship("north", 2))
    assert seen == [2]
    assert len(broker.records) == 1


async def test_user_block_commits_or_rolls_back_its_publishes(make_store: MakeStore) -> None:
    broker = InMemoryBroker()
    warehouse, tracking, seen = services(broker, make_store)
    async with warehouse, tracking, tracked(warehouse, tracking):
        with pytest.raises(Boom):
            async with warehouse.bus.transaction():
                await warehouse.bus.publish(ParcelShipped("south", 1))
                raise Boom("abandon")
        async with warehouse.bus.transaction() as tx:
            assert tx.connection is not None
            await warehouse.bus.publish(ParcelShipped("south", 2))
            assert broker.records == []  # not before commit
    assert seen == [2]


async def test_redelivery_is_acknowledged_without_running_the_handler(
    make_store: MakeStore,
) -> None:
    broker = InMemoryBroker()
    warehouse, tracking, seen = services(broker, make_store)
    async with warehouse, tracking:
        async with tracked(warehouse, tracking) as session:
            await warehouse.bus.invoke(Ship("east", 7))
        async with tracked(warehouse, tracking) as again:
            broker.publish_record(broker.records[0])  # Kafka redelivering after a crash
    assert seen == [7]
    assert len(session.received) == 1
    assert [a.handler for a in again.activities if a.kind == "duplicate"] == [
        f"{__name__}.services.<locals>.on_parcel"
    ]


async def test_failed_inbound_handler_is_dead_lettered_in_the_store_and_replayed(
    make_store: MakeStore,
) -> None:
    broker = InMemoryBroker()
    healthy = False
    handled: list[int] = []

    async def flaky(event: ParcelShipped) -> None:
        if not healthy:
            raise Boom(f"parcel {event.seq}")
        handled.append(event.seq)

    async def steady(event: ParcelShipped) -> None:
        handled.append(-event.seq)

    warehouse = Service(
        "warehouse", "Logistics", transport=broker.transport(), store=make_store("warehouse")
    )
    warehouse.add_handler(ship)
    tracking = Service(
        "tracking", "Logistics", transport=broker.transport(), store=make_store("tracking")
    )
    tracking.add_handler(flaky)
    tracking.add_handler(steady)
    tracking.on_error(ErrorRule.on(Boom).dead_letter())
    async with warehouse, tracking:
        async with tracked(warehouse, tracking):
            await warehouse.bus.invoke(Ship("west", 3))
        assert tracking.store is not None
        letters = await tracking.store.dead_letters()
        assert len(letters) == 1
        letter = letters[0]
        assert letter.exception_type.endswith("Boom")
        assert letter.exception_message == "parcel 3"
        assert letter.handler is not None and letter.handler.endswith("flaky")
        assert letter.origin_topic == "dev.momentumfixturebus.public.parcels.v1"
        assert letter.message_type is not None and "ParcelShipped" in letter.message_type
        assert "Traceback" in letter.stack
        assert handled == [-3]
        healthy = True
        async with tracked(warehouse, tracking) as replay:
            outcome = await tracking.replay_stored_dead_letters(DeadLetterFilter())
        assert outcome.republished == 1
        assert await tracking.store.dead_letters() == []
    # steady already handled it: the inbox skips it on the replay; flaky runs once more
    assert handled == [-3, 3]
    assert [a.kind for a in replay.activities if a.kind == "duplicate"] == ["duplicate"]


async def test_services_sharing_a_store_see_and_replay_only_their_own_dead_letters(
    make_store: MakeStore,
) -> None:
    broker = InMemoryBroker()
    handled: dict[str, list[int]] = {"billing": [], "tracking": []}
    healthy = False

    def failing(name: str) -> Callable[[ParcelShipped], Awaitable[None]]:
        async def handle(event: ParcelShipped) -> None:
            if not healthy:
                raise Boom(f"{name} {event.seq}")
            handled[name].append(event.seq)

        handle.__qualname__ = f"{name}_handle"
        return handle

    warehouse = Service(
        "warehouse", "Logistics", transport=broker.transport(), store=make_store("warehouse")
    )
    warehouse.add_handler(ship)
    consumers = []
    for name in handled:  # one SQLite file (or schema) for both, as two services in one dir
        consumer = Service(name, "Logistics", transport=broker.transport(), store=make_store("x"))
        consumer.add_handler(failing(name))
        consumer.on_error(ErrorRule.on(Boom).dead_letter())
        consumers.append(consumer)
    billing, tracking = consumers
    async with warehouse, billing, tracking:
        async with tracked(warehouse, billing, tracking):
            await warehouse.bus.invoke(Ship("west", 5))
        assert billing.store is not None
        letters = await billing.store.dead_letters()  # the shared table: both letters
        assert sorted(x.group or "" for x in letters) == ["dev.billing", "dev.tracking"]
        healthy = True
        async with tracked(warehouse, billing, tracking):
            outcome = await billing.replay_stored_dead_letters(DeadLetterFilter())
        assert outcome.republished == 1  # billing's own; tracking's stays for tracking
        assert [x.group for x in await billing.store.dead_letters()] == ["dev.tracking"]
        assert handled == {"billing": [5], "tracking": []}
        async with tracked(warehouse, billing, tracking):
            outcome = await tracking.replay_stored_dead_letters(DeadLetterFilter())
        assert outcome.republished == 1
        assert await billing.store.dead_letters() == []
    assert handled == {"billing": [5], "tracking": [5]}


async def test_a_transaction_parameter_needs_a_store() -> None:
    service = Service("warehouse", "Logistics", database_url="memory://")
    service.add_handler(ship)
    with pytest.raises(HandlerConfigurationError, match="StoreTransaction"):
        await service.start()
