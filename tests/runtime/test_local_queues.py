"""Local queues: per-key order under concurrency, independent keys in parallel, own queues."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

import pytest

from momentum import PartitionKey, Service, TrackingTimeoutError
from momentum.runtime.policies import ErrorRule


@dataclass(frozen=True)
class Tick:
    key: Annotated[str, PartitionKey()]
    seq: int


async def test_one_key_is_handled_in_order_while_keys_run_concurrently() -> None:
    seen: dict[str, list[int]] = {}
    running = 0
    max_running = 0

    async def on_tick(event: Tick) -> None:
        nonlocal running, max_running
        running += 1
        max_running = max(max_running, running)
        await asyncio.sleep(0)  # yield so other lanes can interleave
        seen.setdefault(event.key, []).append(event.seq)
        running -= 1

    service = Service("ticks", "Shop", local_queues={"concurrency": 4})
    service.add_handler(on_tick)
    keys = [f"k{i}" for i in range(8)]
    async with service, service.tracked():
        for seq in range(100):
            for key in keys:
                await service.bus.publish(Tick(key, seq))
    assert set(seen) == set(keys)
    for key in keys:
        assert seen[key] == list(range(100)), key
    assert max_running > 1


async def test_keys_do_not_block_each_other() -> None:
    release_a = asyncio.Event()
    order: list[str] = []

    async def on_tick(event: Tick) -> None:
        if event.key == "a":
            await release_a.wait()  # only the handler of key "b" sets it
        else:
            release_a.set()
        order.append(event.key)

    service = Service("ticks", "Shop", local_queues={"concurrency": 2})
    service.add_handler(on_tick)
    # find two keys that hash to different lanes of this process
    async with service, service.tracked(timeout=5):
        await service.bus.publish(Tick("a", 1))
        other = next(k for k in (f"b{i}" for i in range(100)) if hash(k) % 2 != hash("a") % 2)
        await service.bus.publish(Tick(other, 1))
    assert order == [other, "a"]


async def test_dedicated_queue_with_concurrency_one_is_sequential() -> None:
    running = 0
    overlap = False

    async def on_tick(event: Tick) -> None:
        nonlocal running, overlap
        running += 1
        overlap = overlap or running > 1
        await asyncio.sleep(0)
        running -= 1

    service = Service("ticks", "Shop")
    service.local_queue("serial", concurrency=1, message_types=[Tick])
    service.add_handler(on_tick)
    async with service, service.tracked():
        for i in range(20):
            await service.bus.publish(Tick(f"k{i}", i))
    assert not overlap


async def test_tracked_session_timeout_reports_pending_work() -> None:
    gate = asyncio.Event()

    async def on_tick(event: Tick) -> None:
        await gate.wait()

    service = Service("ticks", "Shop")
    service.add_handler(on_tick)
    async with service:
        with pytest.raises(TrackingTimeoutError) as info:
            async with service.tracked(timeout=0.05):
                await service.bus.publish(Tick("x", 1))
        gate.set()
    assert "on_tick" in str(info.value) and "Tick" in str(info.value)
    assert len(info.value.pending) == 1


async def test_failures_in_queued_handlers_are_recorded_and_do_not_stop_the_lane() -> None:
    handled: list[int] = []

    async def on_tick(event: Tick) -> None:
        if event.seq == 1:
            raise RuntimeError("seq 1 fails")
        handled.append(event.seq)

    service = Service("ticks", "Shop", local_queues={"concurrency": 1})
    service.on_error(ErrorRule.on(RuntimeError).retry(1))
    service.add_handler(on_tick)
    async with service, service.tracked() as session:
        for seq in range(3):
            await service.bus.publish(Tick("same", seq))
    assert handled == [0, 2]  # seq 2 waited for seq 1 to be finished (dead-lettered)
    assert [str(a.exception) for a in session.failed] == ["seq 1 fails"] * 2
    assert len(session.dead_lettered) == 1
