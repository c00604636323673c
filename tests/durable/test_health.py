"""`service.health()`: backlog and relay lag from the store, relay errors, a stopped service."""

from __future__ import annotations

from collections.abc import Callable

from momentum_fixture_bus.shipping.integration_events import ParcelShipped

from momentum import Service
from momentum.runtime.store import MessageStore
from momentum.testing import InMemoryBroker

MakeStore = Callable[[str], MessageStore]


async def test_health_reports_backlog_and_relay_lag_then_recovers(make_store: MakeStore) -> None:
    broker = InMemoryBroker()
    service = Service("warehouse", "Logistics", transport=broker.transport(), store=make_store("w"))
    assert (await service.health()).status == "stopped"
    async with service:
        relay = service.runtime.relay
        assert relay is not None
        await relay.stop()  # the relay is down: rows wait
        async with service.bus.transaction():
            await service.bus.publish(ParcelShipped("north", 1))
        report = await service.health()
        assert report.store is not None and report.store["backlog"] == 1
        assert report.store["oldest_pending_age_seconds"] >= 0
        assert report.transport == "in-memory" and report.healthy
        relay.start()
        await service.runtime.wait_idle()
        report = await service.health()
        assert report.store is not None and report.store["backlog"] == 0
        assert report.relay is not None and report.relay["relayed"] == 1
        assert report.to_dict()["status"] == "ok"
