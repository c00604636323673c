"""Key parking: a record waiting for a delayed retry holds back its key, not its partition.

The first tests drive a ``PartitionWorker`` directly (no broker); the ones marked ``kafka``
run services against the real broker.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import pytest
from kafka_support import TIMEOUT, committed_offsets, wait_for
from momentum_kafka_events import OrderPlaced

from momentum import Envelope, Service
from momentum.kafka import KafkaConfig, KafkaTransport, TopicProvisioning
from momentum.kafka.dispatcher import Dispatcher
from momentum.kafka.offsets import OffsetTracker
from momentum.kafka.partitions import InboundRecord, PartitionWorker
from momentum.runtime.policies import ErrorRule
from momentum.testing import tracked

TOPIC = "t"


class FakeReceiver:
    """Records each attempt; ``delays[(customer, seq)]`` lists the delays its attempts return."""

    def __init__(self, delays: dict[tuple[str, int], list[float]] | None = None) -> None:
        self.delays = {k: list(v) for k, v in (delays or {}).items()}
        self.attempts: list[tuple[str, int]] = []
        self.done: list[tuple[str, int]] = []
        self.changed = asyncio.Event()

    async def __call__(self, envelope: Envelope) -> float | None:
        event = envelope.message
        item = (event.customer, event.seq)
        self.attempts.append(item)
        self.changed.set()
        pending = self.delays.get(item)
        if pending:
            return pending.pop(0)
        self.done.append(item)
        return None

    async def until(self, condition: Callable[[], bool], limit: float = 10.0) -> None:
        async with asyncio.timeout(limit):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


def record(offset: int, customer: str | None, seq: int) -> InboundRecord:
    key = customer.encode() if customer is not None else None
    return InboundRecord(
        TOPIC, 0, offset, key, Envelope(OrderPlaced(customer or f"none{offset}", seq))
    )


def worker(receiver: FakeReceiver, lanes: int = 1, gate: asyncio.Event | None = None):
    if gate is None:
        gate = asyncio.Event()
        gate.set()
    return PartitionWorker((TOPIC, 0), 1, receiver, lanes, lambda: None, gate)


async def test_a_parked_key_lets_other_keys_of_its_lane_flow_and_keeps_its_own_order() -> None:
    receiver = FakeReceiver({("k", 0): [0.3]})
    w = worker(receiver)
    order = [("k", 0), *((f"o{i % 5}", i) for i in range(50))]
    order.insert(20, ("k", 1))
    order.insert(40, ("k", 2))
    records = [record(offset, customer, seq) for offset, (customer, seq) in enumerate(order)]
    for r in records:
        w.accept(r)
    others = 50
    await receiver.until(lambda: len(receiver.done) == others)
    assert all(c != "k" for c, _ in receiver.done)  # the lane was not held by the retry
    assert w.parked_keys == 1
    assert w.buffered == 3  # the parked record and the two waiting behind it
    assert w.tracker.position == 0  # nothing past the parked record is committable
    await receiver.until(lambda: len(receiver.done) == others + 3)
    assert receiver.done[others:] == [("k", 0), ("k", 1), ("k", 2)]
    assert w.parked_keys == 0 and w.buffered == 0 and w.tracker.position == len(records)
    assert w.handled == len(records) and w.retries == 1
    assert await w.close(1.0) == len(records)


async def test_a_record_parked_again_keeps_the_records_behind_it_waiting() -> None:
    receiver = FakeReceiver({("k", 0): [0.05, 0.05], ("k", 2): [0.05]})
    w = worker(receiver, lanes=2)
    for offset, (customer, seq) in enumerate(
        [("k", 0), ("j", 0), ("k", 1), ("j", 1), ("k", 2), ("k", 3), ("j", 2)]
    ):
        w.accept(record(offset, customer, seq))
    await receiver.until(lambda: len(receiver.done) == 7)
    assert [s for c, s in receiver.done if c == "k"] == [0, 1, 2, 3]
    assert [s for c, s in receiver.done if c == "j"] == [0, 1, 2]
    assert receiver.attempts.count(("k", 0)) == 3 and receiver.attempts.count(("k", 2)) == 2
    assert w.tracker.position == 7 and w.retries == 3
    await w.close(1.0)


async def test_records_without_a_key_are_each_their_own_key() -> None:
    receiver = FakeReceiver({("none0", 0): [0.2]})
    w = worker(receiver)
    for offset in range(5):
        w.accept(record(offset, None, 0))
    await receiver.until(lambda: len(receiver.done) == 4)
    assert ("none0", 0) not in receiver.done
    await receiver.until(lambda: len(receiver.done) == 5)
    assert receiver.done[-1] == ("none0", 0) and w.tracker.position == 5
    await w.close(1.0)


async def test_a_closed_gate_holds_a_due_retry() -> None:
    gate = asyncio.Event()
    gate.set()
    receiver = FakeReceiver({("k", 0): [0.05]})
    w = worker(receiver, gate=gate)
    w.accept(record(0, "k", 0))
    await receiver.until(lambda: len(receiver.attempts) == 1)
    gate.clear()  # the listener is paused (circuit breaker, pause_listener)
    await wait_for(lambda: bool(w._lanes[0].due), "the retry to fall due", 5)
    assert receiver.attempts == [("k", 0)]
    gate.set()
    await receiver.until(lambda: receiver.done == [("k", 0)])
    await w.close(1.0)


async def test_close_abandons_parked_records_and_commits_below_them() -> None:
    receiver = FakeReceiver({("k", 1): [60.0]})
    w = worker(receiver)
    for offset, (customer, seq) in enumerate([("k", 0), ("k", 1), ("j", 0), ("k", 2), ("j", 1)]):
        w.accept(record(offset, customer, seq))
    await receiver.until(lambda: len(receiver.done) == 3)
    assert receiver.done == [("k", 0), ("j", 0), ("j", 1)]
    started = time.monotonic()
    assert await w.close(30.0) == 1  # the parked record: it and what waits behind it redeliver
    assert time.monotonic() - started < 1.0
    assert not w._timers


async def test_parked_records_count_towards_back_pressure() -> None:
    """The dispatcher pauses a partition whose unfinished records (parked ones too) pile up."""

    class Control:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def commit_async(self, offsets: object) -> None:
            pass

        def pause(self, tp: object, epoch: int) -> None:
            self.calls.append("pause")

        def resume(self, tp: object, epoch: int) -> None:
            self.calls.append("resume")

    receiver = FakeReceiver({("k", s): [0.2] for s in range(4)})
    control = Control()
    config = KafkaConfig(bootstrap_servers="127.0.0.1:9092", max_buffered_per_partition=4)
    dispatcher = Dispatcher(config, receiver, control)
    dispatcher.assign([(TOPIC, 0, 1)])
    dispatcher.accept([record(s, "k", s) for s in range(4)])
    assert control.calls == ["pause"]
    await receiver.until(lambda: len(receiver.attempts) >= 1)
    assert dispatcher.parked_keys == 1 and dispatcher.in_flight == 4
    await receiver.until(lambda: len(receiver.done) == 4)
    await wait_for(lambda: control.calls == ["pause", "resume"], "the partition to resume", 5)
    assert dispatcher.assignments == 1
    await dispatcher.revoke([(TOPIC, 0)])
    await dispatcher.stop()


# -- on the real broker ----------------------------------------------------------------------


def one_partition(make_config: Callable[..., KafkaConfig], **overrides: object) -> KafkaConfig:
    return make_config(provisioning=TopicProvisioning(enabled=True, partitions=1), **overrides)


async def publish_all(shop: Service, events: list[OrderPlaced], batch: int = 1) -> None:
    """Publish in order, ``batch`` at a time (records of one batch may swap places)."""
    for start in range(0, len(events), batch):
        await asyncio.gather(*(shop.bus.publish(e) for e in events[start : start + batch]))


@pytest.mark.kafka
async def test_a_key_parked_for_2s_while_1000_messages_of_other_keys_on_its_partition_complete(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    handled: list[tuple[str, int]] = []
    failed_at: list[float] = []
    retried_at: list[float] = []

    async def on_order(event: OrderPlaced) -> None:
        if event.customer == "K" and event.seq == 0:
            if not failed_at:
                failed_at.append(time.monotonic())
                raise ConnectionError("dependency of K unavailable")
            retried_at.append(time.monotonic())
        handled.append((event.customer, event.seq))

    events = [OrderPlaced(f"o{i % 40}", i) for i in range(10)]
    events.append(OrderPlaced("K", 0))
    for i in range(10, 1000):
        events.append(OrderPlaced(f"o{i % 40}", i))
        if i % 200 == 0:
            events.append(OrderPlaced("K", i // 200))
    shop = Service(
        "shop",
        "Shop",
        transport=KafkaTransport(one_partition(make_config)),
        environment=environment,
    )
    async with shop:
        await publish_all(shop, events, batch=50)  # the K records are far apart
    billing = Service(
        "billing",
        "Billing",
        transport=KafkaTransport(one_partition(make_config, key_concurrency=1)),
        environment=environment,
    )
    billing.add_handler(on_order)
    billing.on_error(ErrorRule.on(ConnectionError).retry_after(2.0))
    async with billing, tracked(billing, timeout=60) as session:
        pass
    k_at = handled.index(("K", 0))
    others = [h for h in handled[:k_at] if h[0] != "K"]
    assert len(others) == 1000, "other keys waited behind the parked key"
    assert [h for h in handled if h[0] == "K"] == [("K", s) for s in range(5)]
    assert handled[k_at:] == [("K", s) for s in range(5)]  # K's later ones came after K
    assert len(handled) == 1005  # each once
    assert retried_at[0] - failed_at[0] >= 2.0 * 0.95
    assert len(session.retried) == 1 and session.dead_lettered == []


@pytest.mark.kafka
async def test_failing_twice_then_succeeding_is_handled_once_in_order_of_its_key(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    calls: Counter[tuple[str, int]] = Counter()
    handled: list[tuple[str, int]] = []

    async def on_order(event: OrderPlaced) -> None:
        calls[(event.customer, event.seq)] += 1
        if event.customer == "ada" and event.seq == 2 and calls[("ada", 2)] <= 2:
            raise ConnectionError("payment provider unavailable")
        handled.append((event.customer, event.seq))

    shop = Service(
        "shop",
        "Shop",
        transport=KafkaTransport(one_partition(make_config)),
        environment=environment,
    )
    billing = Service(
        "billing",
        "Billing",
        transport=KafkaTransport(one_partition(make_config)),
        environment=environment,
    )
    billing.add_handler(on_order)
    billing.on_error(ErrorRule.on(ConnectionError).retry_after(0.5, 0.5))
    async with shop, billing:
        async with tracked(shop, billing, timeout=60) as session:
            for seq in range(6):
                for customer in ("ada", "bob"):
                    await shop.bus.publish(OrderPlaced(customer, seq))
        topic = f"{environment}.kafkatests.public.orders.v1"
        group = billing.group_id
    assert [s for c, s in handled if c == "ada"] == list(range(6))  # once each, in order
    assert [s for c, s in handled if c == "bob"] == list(range(6))
    assert calls[("ada", 2)] == 3
    # bob was not held up by ada's retries: he finished before ada's message 2 did
    assert handled.index(("bob", 5)) < handled.index(("ada", 2))
    assert len(session.retried) == 2 and session.dead_lettered == []
    assert committed_offsets(kafka_bootstrap, group, topic, partitions=1) == [12]


async def committed(bootstrap: str, group: str, topic: str) -> int:
    [offset] = await asyncio.to_thread(committed_offsets, bootstrap, group, topic, 1)
    return offset


@pytest.mark.kafka
async def test_the_commit_stops_below_a_parked_record_also_when_stopped_while_parked(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    handled: list[tuple[str, int]] = []
    attempts: Counter[tuple[str, int]] = Counter()
    failing = True

    async def on_order(event: OrderPlaced) -> None:
        attempts[(event.customer, event.seq)] += 1
        if failing and event.customer == "K":
            raise ConnectionError("K's dependency is down")
        handled.append((event.customer, event.seq))

    events = [OrderPlaced(f"o{i % 4}", i) for i in range(20)]
    events.append(OrderPlaced("K", 0))  # offset 20
    events += [OrderPlaced(f"o{i % 4}", i) for i in range(20, 40)]
    events += [OrderPlaced("K", 1), *(OrderPlaced(f"o{i % 4}", i) for i in range(40, 50))]
    parked_at = 20
    shop = Service(
        "shop",
        "Shop",
        transport=KafkaTransport(one_partition(make_config)),
        environment=environment,
    )
    async with shop:
        await publish_all(shop, events)
    topic = f"{environment}.kafkatests.public.orders.v1"

    def billing_service() -> tuple[Service, KafkaTransport]:
        transport = KafkaTransport(one_partition(make_config, key_concurrency=2))
        service = Service("billing", "Billing", transport=transport, environment=environment)
        service.add_handler(on_order)
        service.on_error(ErrorRule.on(ConnectionError).retry_after(60.0))
        return service, transport

    billing, transport = billing_service()
    group = billing.group_id
    async with billing:
        await wait_for(lambda: len(handled) == 50, "the other keys to be handled")
        dispatcher = transport._dispatcher
        assert dispatcher is not None and dispatcher.parked_keys == 1
        assert attempts[("K", 0)] == 1 and ("K", 1) not in attempts  # K1 waits behind K0
        # While parked the commits reach the parked record and never pass it.
        samples = []
        deadline = time.monotonic() + TIMEOUT
        while not samples or samples[-1] != parked_at:
            assert time.monotonic() < deadline, f"commits stuck at {samples[-1:]}"
            samples.append(await committed(kafka_bootstrap, group, topic))
        for _ in range(3):
            samples.append(await committed(kafka_bootstrap, group, topic))
        assert max(samples) == parked_at, samples
        started = time.monotonic()
    assert time.monotonic() - started < 10.0, "stopping waited for the parked retry"
    assert await committed(kafka_bootstrap, group, topic) == parked_at
    # Another member (here: the next start) gets the parked record and what followed it.
    failing = False
    handled.clear()
    billing, transport = billing_service()
    async with billing, tracked(billing, timeout=60):
        pass
    assert [h for h in handled if h[0] == "K"] == [("K", 0), ("K", 1)]
    assert len(handled) == len(events) - parked_at  # from the parked record on, again
    assert await committed(kafka_bootstrap, group, topic) == len(events)


def test_the_tracker_keeps_memory_for_unfinished_records_only() -> None:
    tracker = OffsetTracker()
    for offset in range(100_001):
        tracker.add(offset)
        if offset:  # everything after the parked record at 0 finishes
            tracker.complete(offset)
    assert tracker.position == 0 and tracker.unfinished == 1
    assert tracker.in_flight == 100_001  # what a crash now would redeliver
    assert len(tracker._order) <= 2 * tracker.unfinished + 64
    tracker.complete(0)
    assert tracker.position == 100_001 and tracker.in_flight == 0
