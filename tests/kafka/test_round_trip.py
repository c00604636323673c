"""Publish and consume through two `Service`s over the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from momentum_kafka_events import AuditNoted, OrderPaid, OrderPlaced, OrderShipped

from momentum import Envelope, Service
from momentum.kafka import KafkaConfig, KafkaTransport
from momentum.testing import tracked

pytestmark = pytest.mark.kafka

CUSTOMERS = ("ada", "bob", "cyd", "dee", "eve", "fay")


async def test_keyed_events_of_three_types_arrive_in_publish_order_per_key(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    seen: dict[str, list[tuple[str, int]]] = {}
    partitions: dict[str, set[int]] = {}
    sources: set[str | None] = set()

    async def on_order(event: OrderPlaced | OrderPaid | OrderShipped, envelope: Envelope) -> None:
        await asyncio.sleep(0)
        seen.setdefault(event.customer, []).append((type(event).__name__, event.seq))
        assert envelope.origin is not None and envelope.origin.transport == "kafka"
        assert envelope.origin.offset is not None and envelope.origin.partition is not None
        partitions.setdefault(event.customer, set()).add(envelope.origin.partition)
        sources.add(envelope.source)

    async def placed(event: OrderPlaced, envelope: Envelope) -> None:
        await on_order(event, envelope)

    async def paid(event: OrderPaid, envelope: Envelope) -> None:
        await on_order(event, envelope)

    async def shipped(event: OrderShipped, envelope: Envelope) -> None:
        await on_order(event, envelope)

    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    billing = Service(
        "billing", "Billing", transport=KafkaTransport(make_config()), environment=environment
    )
    for handler in (placed, paid, shipped):
        billing.add_handler(handler)
    kinds: list[Any] = [OrderPlaced, OrderPaid, OrderShipped]
    expected: dict[str, list[tuple[str, int]]] = {c: [] for c in CUSTOMERS}
    async with shop, billing:
        assert [s.topic for s in billing.runtime.subscriptions()] == [
            f"{environment}.kafkatests.public.orders.v1"
        ]
        async with tracked(shop, billing, timeout=60) as session:
            for seq in range(30):
                for customer in CUSTOMERS:
                    kind = kinds[(seq + len(customer)) % 3]
                    expected[customer].append((kind.__name__, seq))
                    await shop.bus.publish(kind(customer, seq))
    assert seen == expected
    assert all(len(p) == 1 for p in partitions.values())  # one key, one partition
    assert len({next(iter(p)) for p in partitions.values()}) > 1  # keys spread over partitions
    assert sources == {"/shop/shop"}
    assert len(session.received) == 30 * len(CUSTOMERS)


async def test_unkeyed_events_are_keyed_by_message_id_and_all_arrive(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    notes: list[str] = []

    async def on_audit(event: AuditNoted) -> None:
        notes.append(event.note)

    publisher = Service(
        "auditor", "Audit", transport=KafkaTransport(make_config()), environment=environment
    )
    reader = Service(
        "reader", "Audit", transport=KafkaTransport(make_config()), environment=environment
    )
    reader.add_handler(on_audit)
    async with publisher, reader, tracked(publisher, reader, timeout=60):
        await asyncio.gather(*(publisher.bus.publish(AuditNoted(f"n{i}")) for i in range(100)))
    assert sorted(notes) == sorted(f"n{i}" for i in range(100))


async def test_a_service_receives_its_own_integration_events_through_kafka(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    got: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        got.append(event.seq)

    service = Service(
        "solo", "Shop", transport=KafkaTransport(make_config()), environment=environment
    )
    service.add_handler(placed)
    async with service, service.tracked(timeout=60):
        for seq in range(10):
            await service.bus.publish(OrderPlaced("ada", seq))
    assert got == list(range(10))
