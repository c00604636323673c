"""One contract, every transport: the in-memory broker and Kafka behave the same.

Written against the port (`momentum.runtime.ports.Transport`), not a service: publish and
receive, identity preserved, per-key order, one delivery per consumer group, delayed-retry
redelivery holding the key, pause/resume, and wait_idle.
"""

from __future__ import annotations

import asyncio
import secrets
import string
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from momentum import Envelope, topic_name
from momentum.runtime.in_memory_transport import InMemoryBroker
from momentum.runtime.ports import Destination, PausableTransport, Subscription, Transport

from .contract_events import Tick

TIMEOUT = 30.0
Factory = Callable[[], Transport]


@pytest.fixture
def environment() -> str:
    return secrets.choice(string.ascii_lowercase) + "".join(
        secrets.choice(string.ascii_lowercase + string.digits) for _ in range(3)
    )


@pytest.fixture(params=["in-memory", "kafka"])
def make_transport(request: pytest.FixtureRequest, environment: str) -> Iterator[Factory]:
    if request.param == "in-memory":
        broker = InMemoryBroker(concurrency=3)
        yield broker.transport
        return
    bootstrap: str = request.getfixturevalue("kafka_bootstrap")
    from confluent_kafka.admin import AdminClient

    from momentum.kafka import KafkaConfig, KafkaTransport, TopicProvisioning

    def make() -> Transport:
        return KafkaTransport(
            KafkaConfig(
                bootstrap_servers=bootstrap,
                provisioning=TopicProvisioning(enabled=True, partitions=3),
                commit_interval=0.05,
                consumer={"session.timeout.ms": 10000, "heartbeat.interval.ms": 500},
            )
        )

    yield make
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [t for t in admin.list_topics(timeout=TIMEOUT).topics if t.startswith(environment)]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=TIMEOUT).values():
            future.result(timeout=TIMEOUT)


class Inbox:
    """A receiver that records envelopes and lets tests wait for a count."""

    def __init__(self, delay_for: Callable[[Envelope, int], float | None] | None = None):
        self.received: list[Envelope] = []
        self.calls: dict[tuple[str, int], int] = {}
        self._delay_for = delay_for
        self._changed = asyncio.Event()

    async def __call__(self, envelope: Envelope) -> float | None:
        tick = envelope.message
        assert isinstance(tick, Tick)
        key = (tick.stream, tick.seq)
        self.calls[key] = self.calls.get(key, 0) + 1
        delay = self._delay_for(envelope, self.calls[key]) if self._delay_for else None
        if delay is None:
            self.received.append(envelope)
        self._changed.set()
        return delay

    async def wait_for(self, count: int) -> None:
        async def reached() -> None:
            while len(self.received) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(reached(), TIMEOUT)

    def order(self) -> dict[str, list[int]]:
        streams: dict[str, list[int]] = {}
        for envelope in self.received:
            streams.setdefault(envelope.message.stream, []).append(envelope.message.seq)
        return streams


@asynccontextmanager
async def running(
    transport: Transport, group: str, environment: str, receiver: Any
) -> AsyncIterator[Transport]:
    await transport.start(group, [Subscription(topic_of(environment), (Tick,))], receiver)
    try:
        yield transport
    finally:
        await transport.stop()


def topic_of(environment: str) -> str:
    return topic_name(Tick, environment)


def envelope(stream: str, seq: int) -> Envelope:
    return Envelope(Tick(stream, seq), tenant_id="t1", correlation_id="c1", source="/tc/sender")


async def publish(sender: Transport, environment: str, *ticks: tuple[str, int]) -> list[Envelope]:
    sent = [envelope(stream, seq) for stream, seq in ticks]
    for env in sent:
        await sender.publish(env, Destination(topic_of(environment), env.message.stream))
    return sent


async def test_publish_and_receive_with_identity_and_per_key_order(
    make_transport: Factory, environment: str
) -> None:
    inbox = Inbox()
    async with (
        running(make_transport(), "receivers", environment, inbox),
        running(make_transport(), "senders", environment, Inbox()) as sender,
    ):
        ticks = [(s, n) for n in range(20) for s in ("a", "b", "c")]
        sent = await publish(sender, environment, *ticks)
        await inbox.wait_for(len(sent))
    assert inbox.order() == {s: list(range(20)) for s in ("a", "b", "c")}
    by_id = {e.message_id: e for e in inbox.received}
    for original in sent:
        got = by_id[original.message_id]
        assert got.message == original.message
        assert (got.tenant_id, got.correlation_id, got.source) == ("t1", "c1", "/tc/sender")


async def test_every_consumer_group_gets_each_message_once(
    make_transport: Factory, environment: str
) -> None:
    first, second = Inbox(), Inbox()
    async with (
        running(make_transport(), "group-one", environment, first),
        running(make_transport(), "group-two", environment, second),
        running(make_transport(), "senders", environment, Inbox()) as sender,
    ):
        sent = await publish(sender, environment, *[("k", n) for n in range(10)])
        await first.wait_for(10)
        await second.wait_for(10)
        await sender.wait_idle()
    assert [e.message_id for e in first.received] == [e.message_id for e in sent]
    assert [e.message_id for e in second.received] == [e.message_id for e in sent]


async def test_a_returned_delay_redelivers_and_holds_the_key(
    make_transport: Factory, environment: str
) -> None:
    def delay_for(envelope: Envelope, call: int) -> float | None:
        return 0.05 if envelope.message.seq == 0 and call <= 2 else None

    inbox = Inbox(delay_for)
    async with (
        running(make_transport(), "receivers", environment, inbox),
        running(make_transport(), "senders", environment, Inbox()) as sender,
    ):
        await publish(sender, environment, *[("k", n) for n in range(5)])
        await inbox.wait_for(5)
    assert inbox.order() == {"k": [0, 1, 2, 3, 4]}
    assert inbox.calls[("k", 0)] == 3


async def test_stop_while_paused_finishes_what_was_delivered(
    make_transport: Factory, environment: str
) -> None:
    inbox = Inbox()
    receiver_transport = make_transport()
    assert isinstance(receiver_transport, PausableTransport)
    async with (
        running(make_transport(), "senders", environment, Inbox()) as sender,
        running(receiver_transport, "receivers", environment, inbox),  # stopped first
    ):
        await publish(sender, environment, ("k", 0))
        await inbox.wait_for(1)
        receiver_transport.pause()
    # stopping the paused transport returned (no hang)
    assert inbox.order() == {"k": [0]}


async def test_pause_holds_deliveries_until_resume(
    make_transport: Factory, environment: str
) -> None:
    inbox = Inbox()
    receiver_transport = make_transport()
    assert isinstance(receiver_transport, PausableTransport)
    async with (
        running(receiver_transport, "receivers", environment, inbox),
        running(make_transport(), "senders", environment, Inbox()) as sender,
    ):
        await publish(sender, environment, ("k", 0))
        await inbox.wait_for(1)
        receiver_transport.pause()
        await publish(sender, environment, ("k", 1), ("k", 2))  # accepted by the transport
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(inbox.wait_for(2), 0.5)  # nothing arrives while paused
        receiver_transport.resume()
        await inbox.wait_for(3)
    assert inbox.order() == {"k": [0, 1, 2]}
