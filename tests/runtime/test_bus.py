"""The in-process bus: invoke, cascading, publish, send, schedule, errors, cancellation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from momentum_fixture_bus.orders.messages import (
    CancelOrder,
    GetOrder,
    Order,
    OrderCancelled,
    OrderPlaced,
    PlaceOrder,
    SendReceipt,
)
from momentum_fixture_bus.orders.store import OrderStore

from momentum import (
    Command,
    HandlerConfigurationError,
    HandlerNotFoundError,
    MessageBus,
    Result,
    Service,
    ValidationFailure,
)


def make_service(**settings: object) -> tuple[Service, OrderStore]:
    service = Service("orders", "Shop", ["momentum_fixture_bus"], **settings)
    store = OrderStore()
    service.register(OrderStore, store)
    return service, store


async def test_invoke_returns_the_typed_response_and_publishes_the_rest() -> None:
    service, store = make_service()
    async with service, service.tracked() as session:
        result = await service.bus.invoke(PlaceOrder(1, "ada", 30))
    assert result == Result.ok(Order(1, "ada", 30))
    assert session.messages("published", OrderPlaced) == [OrderPlaced(1, "ada")]
    # OrderPlaced -> consume() returns SendReceipt (a command) -> sent -> ReceiptConsumer
    assert session.messages("sent", SendReceipt) == [SendReceipt(1)]
    assert store.notified == [1] and store.receipts == [1]
    handled = [a.handler for a in session.handled]
    assert handled == [
        "momentum_fixture_bus.orders.handlers.handle",
        "momentum_fixture_bus.orders.reactions.consume",
        "momentum_fixture_bus.orders.reactions.ReceiptConsumer.consume",
    ]


async def test_cascaded_messages_carry_correlation_and_causation() -> None:
    service, _ = make_service()
    async with service, service.tracked() as session:
        await service.bus.invoke(PlaceOrder(2, "bo", 5))
    placed = session.published[0].envelope
    sent = session.sent[0].envelope
    assert placed is not None and sent is not None
    assert sent.causation_id == str(placed.message_id)
    assert placed.correlation_id is not None
    assert sent.correlation_id == placed.correlation_id
    assert placed.source == "/shop/orders"


async def test_query_and_handler_class_with_constructor_injection() -> None:
    service, store = make_service()
    async with service:
        await service.bus.invoke(PlaceOrder(3, "cy", 10))
        assert await service.bus.invoke(GetOrder(3)) == Order(3, "cy", 10)
        assert await service.bus.invoke(GetOrder(99)) is None
        async with service.tracked() as session:
            assert await service.bus.invoke(CancelOrder(3)) is None
            assert await service.bus.invoke(CancelOrder(3)) is None  # not found: None skipped
    assert session.messages("published", OrderCancelled) == [OrderCancelled(3)]
    assert store.audit == ["cancelled 3"]


async def test_validation_failure_short_circuits_into_result_fail() -> None:
    service, store = make_service()
    async with service, service.tracked() as session:
        result = await service.bus.invoke(PlaceOrder(4, "", -1))
    assert not result.is_success
    assert result.failures == (
        ValidationFailure("amount", "must be positive"),
        ValidationFailure("customer", "is required"),
    )
    assert store.orders == {} and session.published == []


async def test_handler_not_found_names_type_and_packages() -> None:
    @dataclass(frozen=True)
    class Unhandled:
        x: int

    service, _ = make_service()
    async with service:
        with pytest.raises(HandlerNotFoundError) as info:
            await service.bus.invoke(Unhandled(1))
        with pytest.raises(HandlerNotFoundError):
            await service.bus.send(Unhandled(1))
    assert "Unhandled" in str(info.value) and "momentum_fixture_bus" in str(info.value)


@dataclass(frozen=True)
class Explode(Command[int]):
    reason: str


async def explode(command: Explode) -> int:
    raise RuntimeError(command.reason)


@pytest.mark.parametrize("middleware", [True, False])
async def test_handler_exception_propagates_with_message_id(middleware: bool) -> None:
    service = Service("boom", "Shop", middleware={"enabled": middleware})
    service.add_handler(explode)
    async with service:
        with pytest.raises(RuntimeError, match="kaput") as info:
            await service.bus.invoke(Explode("kaput"))
    message_id = info.value.momentum_message_id  # type: ignore[attr-defined]
    assert str(message_id) in "\n".join(info.value.__notes__)
    assert "test_bus.explode" in "\n".join(info.value.__notes__)


@dataclass(frozen=True)
class Slow(Command[str]):
    pass


async def test_cancelling_invoke_cancels_the_handler_cleanly() -> None:
    started = asyncio.Event()
    cleaned: list[str] = []

    async def handle_slow(command: Slow) -> str:
        started.set()
        try:
            await asyncio.Event().wait()  # never set: only cancellation ends it
        finally:
            cleaned.append("finally ran")
        return "unreachable"

    service = Service("slow", "Shop")
    service.add_handler(handle_slow)
    async with service:
        task = asyncio.create_task(service.bus.invoke(Slow()))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        started.clear()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(service.bus.invoke(Slow()), timeout=0.05)
    assert cleaned == ["finally ran", "finally ran"]


@dataclass(frozen=True)
class Outer(Command[str]):
    n: int


@dataclass(frozen=True)
class Inner(Command[int]):
    n: int


async def handle_outer(command: Outer, bus: MessageBus) -> str:
    inner = await bus.invoke(Inner(command.n))
    return f"outer({inner})"


async def handle_inner(command: Inner) -> int:
    return command.n * 2


async def test_nested_invoke_through_the_injected_bus() -> None:
    service = Service("nested", "Shop")
    service.add_handler(handle_outer)
    service.add_handler(handle_inner)
    async with service:
        assert await service.bus.invoke(Outer(21)) == "outer(42)"


async def test_publish_fans_out_to_every_local_handler() -> None:
    seen: list[str] = []

    async def first(event: OrderPlaced) -> None:
        seen.append(f"first {event.order_id}")

    async def second(event: OrderPlaced) -> None:
        seen.append(f"second {event.order_id}")

    service = Service("fanout", "Shop")
    service.add_handler(first)
    service.add_handler(second)
    async with service:
        async with service.tracked() as session:
            await service.bus.publish(OrderPlaced(7, "x"))
        with pytest.raises(HandlerConfigurationError, match="2 handlers"):
            await service.bus.invoke(OrderPlaced(8, "y"))
    assert sorted(seen) == ["first 7", "second 7"]
    assert len(session.handled) == 2


async def test_publish_without_subscribers_is_recorded_as_no_route() -> None:
    service = Service("quiet", "Shop")
    async with service, service.tracked() as session:
        await service.bus.publish(OrderPlaced(1, "z"))
    assert session.messages("no-route", OrderPlaced) == [OrderPlaced(1, "z")]


async def test_schedule_delivers_later() -> None:
    delivered = asyncio.Event()

    async def on_receipt(command: SendReceipt) -> None:
        delivered.set()

    service = Service("later", "Shop")
    service.add_handler(on_receipt)
    async with service:
        async with service.tracked() as session:
            await service.bus.schedule(SendReceipt(1), delay=0.01)
        assert session.messages("scheduled", SendReceipt) == [SendReceipt(1)]
        await asyncio.wait_for(delivered.wait(), 5)
        with pytest.raises(ValueError, match="exactly one"):
            await service.bus.schedule(SendReceipt(2))


async def test_stop_drains_local_queues() -> None:
    handled: list[int] = []

    async def on_placed(event: OrderPlaced) -> None:
        await asyncio.sleep(0)
        handled.append(event.order_id)

    service = Service("drain", "Shop")
    service.add_handler(on_placed)
    async with service:
        for i in range(50):
            await service.bus.publish(OrderPlaced(i, "c"))
    assert sorted(handled) == list(range(50))
