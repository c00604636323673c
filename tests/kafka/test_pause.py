"""Pausing the listener (circuit breaker, error policies) keeps the group and the order."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kafka_support import wait_for
from momentum_kafka_events import OrderPlaced

from momentum import Service
from momentum.kafka import KafkaConfig, KafkaTransport
from momentum.runtime.ports import PausableTransport
from momentum.testing import tracked

pytestmark = pytest.mark.kafka


async def test_a_paused_listener_holds_records_and_resumes_in_order(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    got: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        got.append(event.seq)

    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    transport = KafkaTransport(make_config(max_buffered_per_partition=5))
    assert isinstance(transport, PausableTransport)
    billing = Service("billing", "Billing", transport=transport, environment=environment)
    billing.add_handler(placed)
    async with shop, billing:
        transport.pause()
        for seq in range(20):
            await shop.bus.publish(OrderPlaced("ada", seq))
        await wait_for(lambda: transport.buffered >= 5, "records to arrive while paused")
        assert got == []
        assert transport.pauses >= 1  # the partition's fetching was paused as well
        transport.resume()
        async with tracked(shop, billing, timeout=60):
            pass
    assert got == list(range(20))
