"""Durable local queues and durable scheduling, on SQLite files and PostgreSQL schemas.

With a store, `bus.send` and local `publish` become rows (`local:<handler>`) that any process
of the service claims; they survive a stop, run each handler once (inbox) and keep key order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import pytest
from momentum_fixture_bus.shipping.integration_events import ParcelShipped

from momentum import Command, MessageBus, PartitionKey, Service
from momentum.runtime.policies import ErrorRule
from momentum.runtime.store import MessageStore, StoreTransaction
from momentum.testing import InMemoryBroker, tracked

MakeStore = Callable[[str], MessageStore]


@dataclass(frozen=True)
class Pack(Command[None]):
    order: Annotated[str, PartitionKey()]
    seq: int


@dataclass(frozen=True)
class Packed:
    """A domain event."""

    order: Annotated[str, PartitionKey()]
    seq: int


class Boom(Exception):
    pass


class Packing:
    """What the handlers did, shared by the service instances of one test."""

    def __init__(self) -> None:
        self.packed: dict[str, list[int]] = {}
        self.notified: list[int] = []
        self.gate: asyncio.Event | None = None
        self.fail_seq: int | None = None


def packing_service(make_store: MakeStore, state: Packing, **settings: object) -> Service:
    async def pack(command: Pack, tx: StoreTransaction) -> Packed:
        if command.seq == state.fail_seq:
            raise Boom(command.seq)
        state.packed.setdefault(command.order, []).append(command.seq)
        return Packed(command.order, command.seq)  # cascaded in the same transaction

    async def notify(event: Packed) -> None:
        if state.gate is not None:
            await state.gate.wait()
        state.notified.append(event.seq)

    service = Service("packing", "Shop", store=make_store("packing"), **settings)  # type: ignore[arg-type]
    service.add_handler(pack)
    service.add_handler(notify)
    service.local_queue("notifications", concurrency=2, message_types=[Packed])
    return service


async def test_sent_commands_run_from_the_store_once_in_key_order(make_store: MakeStore) -> None:
    state = Packing()
    service = packing_service(make_store, state)
    async with service:
        async with service.tracked() as session:
            for seq in range(30):
                for order in ("a", "b"):
                    await service.bus.send(Pack(order, seq))
        assert service.store is not None
        stats = await service.store.stats()
    assert state.packed == {"a": list(range(30)), "b": list(range(30))}
    assert sorted(state.notified) == sorted(list(range(30)) * 2)
    assert len(session.handled) == 120
    assert stats.backlog == 0


async def test_rolled_back_handler_queues_nothing(make_store: MakeStore) -> None:
    state = Packing()
    state.fail_seq = 1
    service = packing_service(make_store, state)
    async with service, service.tracked():
        with pytest.raises(Boom):
            await service.bus.invoke(Pack("a", 1))
        await service.bus.invoke(Pack("a", 2))
    assert state.notified == [2]


async def test_queued_messages_survive_a_stop_and_run_on_the_next_start(
    make_store: MakeStore,
) -> None:
    state = Packing()
    state.gate = asyncio.Event()  # the first instance never finishes a notification
    first = packing_service(make_store, state, shutdown_seconds=0.1)
    async with first:
        for seq in range(10):
            await first.bus.send(Pack("a", seq))
        store = first.store
        assert store is not None
        deadline = time.monotonic() + 10
        # every command packed and its row completed; the 10 notifications left waiting
        while len(state.packed.get("a", [])) < 10 or (await store.stats()).backlog != 10:
            assert time.monotonic() < deadline, f"packed only {state.packed}"
            await asyncio.sleep(0.01)  # poll interval, not a wait for an outcome
    assert state.notified == []  # abandoned at stop (after 0.1 s), their rows released
    state.gate = None
    second = packing_service(make_store, state)
    async with second, second.tracked():
        pass  # tracking waits until the durable rows are claimed and handled
    assert state.packed == {"a": list(range(10))}  # each command ran once
    assert sorted(state.notified) == list(range(10))


async def test_two_processes_share_the_local_queue(make_store: MakeStore) -> None:
    state = Packing()
    one, two = packing_service(make_store, state), packing_service(make_store, state)
    async with one, two, tracked(one, two):
        for seq in range(40):
            for order in ("a", "b", "c"):
                await one.bus.send(Pack(order, seq))
    assert state.packed == {order: list(range(40)) for order in ("a", "b", "c")}
    assert sorted(state.notified) == sorted(list(range(40)) * 3)


async def test_scheduled_command_is_durable_across_a_restart(make_store: MakeStore) -> None:
    state = Packing()
    first = packing_service(make_store, state)
    async with first:
        await first.bus.schedule(Pack("late", 1), delay=0.3)
        scheduled_at = time.time()
    assert state.packed == {}
    second = packing_service(make_store, state)
    async with second:
        async with second.tracked():
            pass
        deadline = time.monotonic() + 10
        while not state.packed:  # poll interval, not a wait for an outcome
            assert time.monotonic() < deadline, "the scheduled command never ran"
            await asyncio.sleep(0.01)
    assert state.packed == {"late": [1]}
    assert time.time() - scheduled_at >= 0.3


async def test_a_retried_inbound_handler_queues_its_domain_event_once(
    make_store: MakeStore,
) -> None:
    """Local rows written by a handler outside a transaction commit with its inbox row."""
    broker = InMemoryBroker()
    state = Packing()
    tries: list[int] = []

    async def on_parcel(event: ParcelShipped, bus: MessageBus) -> None:
        tries.append(event.seq)
        await bus.publish(Packed(event.warehouse, event.seq))  # a domain event, then a failure
        if len(tries) == 1:
            raise Boom("after publishing")

    async def notify(event: Packed) -> None:
        state.notified.append(event.seq)

    sender = Service("sender", "Shop", transport=broker.transport(), database_url="memory://")
    service = Service("packing", "Shop", transport=broker.transport(), store=make_store("p"))
    service.add_handler(on_parcel)
    service.add_handler(notify)
    service.on_error(ErrorRule.on(Boom).retry(1))
    async with sender, service, tracked(sender, service):
        await sender.bus.publish(ParcelShipped("north", 3))
    assert tries == [3, 3]
    assert state.notified == [3]  # the failed attempt's event was never committed
