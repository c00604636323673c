"""The circuit breaker on real Kafka: it pauses consumption while a dependency fails and
resumes after it recovers, with the consumer staying in its group (no rebalance)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from momentum_kafka_events import OrderPlaced

from momentum import Service
from momentum.kafka import KafkaConfig, KafkaTransport
from momentum.runtime.circuit_breaker import CircuitBreakerSettings, CircuitState
from momentum.runtime.policies import ErrorRule
from momentum.testing import tracked

pytestmark = pytest.mark.kafka

COOL_DOWN = 7.0
"""Longer than ``max.poll.interval.ms`` below: a consumer that stopped polling while the
breaker is open would be thrown out of the group, and its partitions rebalanced."""


async def test_breaker_opens_under_a_failing_dependency_and_closes_after_it_recovers_without_a_rebalance(  # noqa: E501
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    dependency_up = False
    handled: list[tuple[str, int]] = []
    attempts: list[float] = []
    changes: list[tuple[CircuitState, float]] = []
    opened = asyncio.Event()

    async def on_order(event: OrderPlaced) -> None:
        attempts.append(time.monotonic())
        if not dependency_up:
            raise ConnectionError("payment provider unavailable")
        handled.append((event.customer, event.seq))

    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    transport = KafkaTransport(
        make_config(
            consumer={
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500,
                "max.poll.interval.ms": 6000,
            }
        )
    )
    billing = Service("billing", "Billing", transport=transport, environment=environment)
    billing.add_handler(on_order)
    billing.on_error(ErrorRule.on(ConnectionError).retry_after(*[0.2] * 30))
    billing.circuit_breaker(
        CircuitBreakerSettings(
            failure_ratio=0.5,
            window_seconds=60,
            minimum_volume=5,
            cool_down_seconds=COOL_DOWN,
            probes=3,
        )
    )
    customers = [f"c{i}" for i in range(6)]
    async with shop, billing:
        breaker = billing.runtime.circuit_breaker
        assert breaker is not None and breaker.state is CircuitState.CLOSED

        def on_change(old: CircuitState, new: CircuitState, why: str) -> None:
            changes.append((new, time.monotonic()))
            if new is CircuitState.OPEN:
                opened.set()

        breaker.listeners.append(on_change)
        dispatcher = transport._dispatcher
        assert dispatcher is not None
        async with tracked(shop, billing, timeout=90) as session:
            for seq in range(5):
                for customer in customers:
                    await shop.bus.publish(OrderPlaced(customer, seq))
            await asyncio.wait_for(opened.wait(), 30)
            # Open: the listener is paused (records are held, fetching continues).
            assert breaker.state is CircuitState.OPEN and not dispatcher.gate.is_set()
            workers = dict(dispatcher.workers)
            assert sorted(workers) == transport.assignment and len(workers) == 3
            epochs = {tp: w.epoch for tp, w in workers.items()}
            assert dispatcher.assignments == 1 and dispatcher.revocations == 0
            dependency_up = True  # the dependency recovers while the breaker is open
        # Still running: the same member kept the same partitions all along.
        assert dispatcher.assignments == 1 and dispatcher.revocations == 0
        assert dispatcher.workers == workers
        assert {tp: w.epoch for tp, w in dispatcher.workers.items()} == epochs
        assert breaker.state is CircuitState.CLOSED
    assert [state for state, _ in changes] == [
        CircuitState.OPEN,
        CircuitState.HALF_OPEN,
        CircuitState.CLOSED,
    ]
    opened_at, half_open_at = changes[0][1], changes[1][1]
    assert half_open_at - opened_at >= COOL_DOWN * 0.95
    # While open, at most the attempts already under way (one per partition) ran.
    assert sum(opened_at < t < half_open_at for t in attempts) <= 3
    # Nothing lost or doubled, each key in order.
    for customer in customers:
        assert [s for c, s in handled if c == customer] == list(range(5))
    assert len(handled) == 30 and session.dead_lettered == []
