"""The public test helpers: the momentum_service fixture and tracked sessions."""

from __future__ import annotations

from momentum_fixture_bus.orders.messages import OrderPlaced, PlaceOrder, SendReceipt
from momentum_fixture_bus.orders.store import OrderStore

from momentum.testing import ServiceFactory


async def test_fixture_starts_and_stops_services(momentum_service: ServiceFactory) -> None:
    store = OrderStore()
    service = await momentum_service(
        "orders", "Shop", ["momentum_fixture_bus"], services={OrderStore: store}
    )
    assert service.running
    async with service.tracked() as session:
        await service.bus.invoke(PlaceOrder(1, "ada", 3))
    assert session.messages("published", OrderPlaced) == [OrderPlaced(1, "ada")]
    assert session.messages("handled", SendReceipt) == [SendReceipt(1)]
    assert store.receipts == [1]
