"""Circuit breaker: opens on a failure ratio over a window, pauses the listener, probes."""

from __future__ import annotations

import asyncio

import pytest
from momentum_fixture_bus.shipping.integration_events import ParcelShipped

from momentum import Service
from momentum.runtime.circuit_breaker import (
    CircuitBreaker,
    CircuitBreakerSettings,
    CircuitState,
)
from momentum.runtime.policies import ErrorRule
from momentum.testing import InMemoryBroker, tracked


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(settings: CircuitBreakerSettings) -> tuple[CircuitBreaker, list[str], Clock]:
    calls: list[str] = []
    clock = Clock()
    breaker = CircuitBreaker(
        "test", settings, lambda: calls.append("pause"), lambda: calls.append("resume"), clock
    )
    return breaker, calls, clock


async def test_opens_only_with_minimum_volume_and_ratio() -> None:
    breaker, calls, clock = make(
        CircuitBreakerSettings(
            failure_ratio=0.5, window_seconds=10, minimum_volume=4, cool_down_seconds=60
        )
    )
    for ok in (False, False, False):
        breaker.record(ok)
    assert breaker.state is CircuitState.CLOSED  # 3 outcomes < minimum volume 4
    clock.now = 11  # the three failures leave the window
    for ok in (True, True, False):
        breaker.record(ok)
    assert breaker.state is CircuitState.CLOSED  # 1/3 in window, volume 3
    breaker.record(False)
    assert breaker.state is CircuitState.OPEN and calls == ["pause"]  # 2/4 = 50%
    breaker.close()


async def test_half_open_probes_close_or_reopen() -> None:
    breaker, calls, _ = make(
        CircuitBreakerSettings(
            minimum_volume=1, failure_ratio=1.0, cool_down_seconds=0.01, probes=2
        )
    )
    opened = asyncio.Event()
    breaker.listeners.append(
        lambda old, new, why: opened.set() if new is CircuitState.HALF_OPEN else None
    )
    breaker.record(False)
    assert breaker.state is CircuitState.OPEN
    await asyncio.wait_for(opened.wait(), 5)
    assert breaker.state is CircuitState.HALF_OPEN and calls == ["pause", "resume"]
    breaker.record(False)  # a probe fails: open again
    assert breaker.state is CircuitState.OPEN and calls[-1] == "pause"
    opened.clear()
    await asyncio.wait_for(opened.wait(), 5)
    breaker.record(True)
    breaker.record(True)
    assert breaker.state is CircuitState.CLOSED
    assert [s for s, _ in breaker.transitions] == [
        CircuitState.OPEN,
        CircuitState.HALF_OPEN,
        CircuitState.OPEN,
        CircuitState.HALF_OPEN,
        CircuitState.CLOSED,
    ]


def test_settings_validate_and_read_well() -> None:
    with pytest.raises(ValueError):
        CircuitBreakerSettings(failure_ratio=0)
    assert str(CircuitBreakerSettings()) == (
        "open at 50% failures of at least 20 outcomes in 30 s; probe 3 after 10 s"
    )


async def test_breaker_pauses_the_transport_listener_until_the_dependency_recovers() -> None:
    broker = InMemoryBroker(concurrency=1)
    dependency_up = False
    handled: list[int] = []
    states: list[CircuitState] = []

    async def on_parcel(event: ParcelShipped) -> None:
        if not dependency_up:
            raise ConnectionError("dependency down")
        handled.append(event.seq)

    receiver = Service("receiver", "Logistics", transport=broker.transport())
    receiver.add_handler(on_parcel)
    receiver.on_error(ErrorRule.on(ConnectionError).retry_after(0.05, 0.05, 0.05, 0.05, 0.05))
    receiver.circuit_breaker(
        CircuitBreakerSettings(
            failure_ratio=0.5, minimum_volume=3, window_seconds=60, cool_down_seconds=0.2, probes=1
        )
    )
    sender = Service("sender", "Logistics", transport=broker.transport())
    async with sender, receiver:
        breaker = receiver.runtime.circuit_breaker
        assert breaker is not None
        opened = asyncio.Event()

        def on_change(old: CircuitState, new: CircuitState, why: str) -> None:
            states.append(new)
            if new is CircuitState.OPEN:
                opened.set()

        breaker.listeners.append(on_change)
        async with tracked(sender, receiver, timeout=20):
            for seq in range(5):
                await sender.bus.publish(ParcelShipped(f"w{seq}", seq))
            await asyncio.wait_for(opened.wait(), 10)
            dependency_up = True  # recovers while the breaker is open
    assert sorted(handled) == [0, 1, 2, 3, 4]  # nothing lost
    assert states[0] is CircuitState.OPEN and states[-1] is CircuitState.CLOSED
    assert CircuitState.HALF_OPEN in states


async def test_a_breaker_needs_a_pausable_transport() -> None:
    class Plain:
        name = "plain"

        async def start(self, *args: object) -> None: ...
        async def publish(self, *args: object) -> None: ...
        async def wait_idle(self) -> None: ...
        async def stop(self) -> None: ...

    service = Service("svc", "Shop", transport=Plain())  # type: ignore[arg-type]
    service.circuit_breaker()
    with pytest.raises(Exception, match="cannot"):
        await service.start()
