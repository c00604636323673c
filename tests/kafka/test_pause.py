"""Pausing the listener (circuit breaker, error policies) keeps the group and the order."""

from __future__ import annotations

import asyncio
import logging
import re
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


async def test_back_pressure_shows_in_health_and_logs_each_transition_once(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()
    got: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        await release.wait()
        got.append(event.seq)

    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    transport = KafkaTransport(make_config(max_buffered_per_partition=4))
    billing = Service("billing", "Billing", transport=transport, environment=environment)
    billing.add_handler(placed)
    caplog.set_level(logging.INFO, logger="momentum.kafka.consumer")
    async with shop, billing:
        await shop.bus.publish_many([OrderPlaced("ada", seq) for seq in range(40)])
        await wait_for(lambda: transport.paused_partitions != [], "back pressure to pause")
        report = await billing.health()
        assert report.paused is not None and len(report.paused) == 1
        (tp,) = transport.paused_partitions
        assert report.paused == [f"{tp[0]}[{tp[1]}]"]
        assert report.buffered is not None and report.buffered >= 4
        assert report.to_dict()["paused"] == report.paused
        release.set()
        async with tracked(shop, billing, timeout=60):
            pass
        report = await billing.health()
        assert report.paused == [] and report.buffered == 0
        pauses = transport.pauses
    assert got == list(range(40))
    lines = [r.getMessage() for r in caplog.records if r.name == "momentum.kafka.consumer"]
    paused = [line for line in lines if line.startswith(f"paused {tp[0]}[{tp[1]}]")]
    resumed = [line for line in lines if line.startswith(f"resumed {tp[0]}[{tp[1]}]")]
    assert 1 <= pauses < 40  # transitions, not records
    assert len(paused) == pauses and len(resumed) == pauses
    assert re.search(r"for back pressure: \d+ records unfinished \(limit 4\)", paused[0])
