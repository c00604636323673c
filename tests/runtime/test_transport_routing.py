"""Integration events cross services through a transport (here the in-memory one)."""

from __future__ import annotations

import asyncio

from momentum_fixture_bus.shipping.integration_events import ParcelShipped

from momentum import Service
from momentum.testing import InMemoryBroker, tracked


async def test_integration_events_reach_other_services_in_key_order() -> None:
    broker = InMemoryBroker(concurrency=4)
    seen_by_tracking: dict[str, list[int]] = {}
    seen_by_own: list[int] = []

    async def track_parcel(event: ParcelShipped) -> None:
        await asyncio.sleep(0)
        seen_by_tracking.setdefault(event.warehouse, []).append(event.seq)

    async def own_handler(event: ParcelShipped) -> None:
        seen_by_own.append(event.seq)

    warehouse = Service("warehouse", "Logistics", transport=broker.transport())
    warehouse.add_handler(own_handler)
    tracking = Service("tracking", "Logistics", transport=broker.transport())
    tracking.add_handler(track_parcel)
    async with warehouse, tracking:
        assert [s.topic for s in tracking.runtime.subscriptions()] == [
            "dev.momentumfixturebus.public.parcels.v1"
        ]
        async with tracked(warehouse, tracking) as session:
            for seq in range(50):
                for name in ("north", "south", "east"):
                    await warehouse.bus.publish(ParcelShipped(name, seq))
    assert seen_by_tracking == {name: list(range(50)) for name in ("north", "south", "east")}
    # the publisher's own handler gets each event once, through its own subscription
    assert sorted(seen_by_own) == sorted(list(range(50)) * 3)
    assert len(session.received) == 300
    assert {a.envelope.source for a in session.received if a.envelope} == {"/logistics/warehouse"}


async def test_without_a_transport_integration_events_stay_local() -> None:
    got: list[int] = []

    async def on_parcel(event: ParcelShipped) -> None:
        got.append(event.seq)

    service = Service("solo", "Logistics")
    service.add_handler(on_parcel)
    async with service, service.tracked():
        await service.bus.publish(ParcelShipped("x", 1))
    assert got == [1]
