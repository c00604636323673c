"""Several keys of one partition handled concurrently, each key strictly in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from momentum_kafka_events import OrderPlaced

from momentum import Envelope, Service
from momentum.kafka import KafkaConfig, KafkaTransport
from momentum.testing import tracked

pytestmark = pytest.mark.kafka

CUSTOMERS = [f"k{i}" for i in range(12)]


async def test_keys_of_one_partition_overlap_but_each_key_stays_in_order(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    seen: dict[str, list[int]] = {}
    running: dict[int, set[str]] = {}  # partition -> keys being handled now
    overlap = 0

    async def placed(event: OrderPlaced, envelope: Envelope) -> None:
        nonlocal overlap
        assert envelope.origin is not None and envelope.origin.partition is not None
        now = running.setdefault(envelope.origin.partition, set())
        assert event.customer not in now, "two records of one key at once"
        now.add(event.customer)
        overlap = max(overlap, len(now))
        await asyncio.sleep(0.002)
        now.discard(event.customer)
        seen.setdefault(event.customer, []).append(event.seq)

    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    async with shop:
        for seq in range(30):
            for customer in CUSTOMERS:
                await shop.bus.publish(OrderPlaced(customer, seq))
    billing = Service(
        "billing",
        "Billing",
        transport=KafkaTransport(make_config(key_concurrency=4)),
        environment=environment,
    )
    billing.add_handler(placed)
    async with billing, tracked(billing, timeout=60):
        pass
    assert seen == {customer: list(range(30)) for customer in CUSTOMERS}
    assert overlap > 1, "keys of one partition were never handled concurrently"
