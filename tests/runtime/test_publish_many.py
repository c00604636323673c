"""``bus.publish_many`` over a transport that takes batches (``BatchTransport``).

The core's side only: which messages go to the batch (with or without an envelope), with
which topic, key, tenant, source and time; local events, trackers, store transactions and
refused adds. The Kafka batch itself is tested against the broker in tests/kafka.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from momentum_fixture_bus.shipping.integration_events import ParcelShipped

from momentum import Envelope, MessageBus, Service, event_topic, tenant_scope
from momentum.contracts.errors import MessageEncodeError
from momentum.runtime.in_memory_transport import InMemoryBroker, InMemoryTransport
from momentum.runtime.ports import BatchTransport

TOPIC = "dev.momentumfixturebus.public.parcels.v1"


@dataclass(frozen=True)
class Noted:
    """A domain event: no topic, handled in process."""

    text: str


@dataclass(frozen=True)
class Start:
    """A domain event whose handler publishes."""

    n: int


@event_topic("tenantparcels", domain="Logistics")
@dataclass(frozen=True)
class TenantParcel:
    """An integration event carrying its tenant as a field."""

    tenant_id: str


class RecordingBatch:
    """Notes what it is given; refuses every ``refuse_every``-th add once (queue full)."""

    def __init__(self, transport: BatchingTransport, source: str, created: float) -> None:
        self.transport = transport
        self.source, self.created = source, created
        self.added: list[tuple[Any, ...]] = []
        self.attempts = 0
        self.waits = 0
        self.closed = False
        self.settled = False

    def _accept(self) -> bool:
        self.attempts += 1
        every = self.transport.refuse_every
        return not (every and self.attempts % every == 0)

    def add(self, envelope: Envelope, topic: str, key: str | None) -> bool:
        if not self._accept():
            return False
        self.added.append(("envelope", envelope, topic, key))
        return True

    def add_new(self, message: Any, topic: str, key: str | None, tenant_id: str | None) -> bool:
        if self.transport.fail_on is not None and message == self.transport.fail_on:
            raise MessageEncodeError("cannot encode", message_type=type(message))
        if not self._accept():
            return False
        self.added.append(("new", message, topic, key, tenant_id))
        return True

    async def wait(self) -> None:
        self.waits += 1

    def close(self) -> None:
        self.closed = True

    async def settle(self) -> None:
        self.close()
        self.settled = True


class BatchingTransport(InMemoryTransport):
    """The in-memory transport plus batches that only record."""

    def __init__(self, broker: InMemoryBroker) -> None:
        super().__init__(broker)
        self.batches: list[RecordingBatch] = []
        self.refuse_every = 0
        self.fail_on: Any = None

    def publish_batch(self, source: str, created: float) -> RecordingBatch:
        batch = RecordingBatch(self, source, created)
        self.batches.append(batch)
        return batch


def _service() -> tuple[Service, BatchingTransport, list[str]]:
    transport = BatchingTransport(InMemoryBroker())
    assert isinstance(transport, BatchTransport)
    service = Service("warehouse", "Logistics", transport=transport)
    local: list[str] = []

    async def on_noted(event: Noted) -> None:
        local.append(event.text)

    service.add_handler(on_noted)
    return service, transport, local


async def test_root_publish_many_hands_new_messages_to_one_batch_without_envelopes() -> None:
    service, transport, local = _service()
    async with service:
        transport.refuse_every = 3  # every third add is refused once: waited for, re-added
        with tenant_scope("t-9"):
            await service.bus.publish_many(
                [ParcelShipped("north", 1), Noted("hi"), ParcelShipped("south", 2)]
                + [ParcelShipped("east", n) for n in range(10)]
            )
        await service.runtime.wait_idle()
    (batch,) = transport.batches
    assert batch.source == "/logistics/warehouse" and batch.settled
    assert batch.waits == 5 and batch.attempts == 17  # 12 sent, every third attempt refused
    assert [entry[0] for entry in batch.added] == ["new"] * 12
    assert [(m.warehouse, m.seq, topic, key, tenant) for _, m, topic, key, tenant in batch.added][
        :2
    ] == [("north", 1, TOPIC, "north", "t-9"), ("south", 2, TOPIC, "south", "t-9")]
    assert [m.seq for _, m, *_ in batch.added[2:]] == list(range(10))
    assert local == ["hi"]  # the domain event went to its local handler, in order


async def test_without_a_scope_the_tenant_is_the_messages_field() -> None:
    service, transport, _ = _service()
    async with service:
        await service.bus.publish_many([TenantParcel("t-1"), ParcelShipped("x", 1)])
    (batch,) = transport.batches
    assert [(entry[2], entry[4]) for entry in batch.added] == [
        ("dev.logistics.public.tenantparcels.v1", "t-1"),
        (TOPIC, None),
    ]


async def test_a_generator_yielding_inside_tenant_scopes_gives_each_message_its_tenant() -> None:
    service, transport, _ = _service()

    def parcels() -> Iterator[ParcelShipped]:
        for tenant in ("t-1", "t-2"):
            with tenant_scope(tenant):
                yield ParcelShipped(tenant, 1)
        yield ParcelShipped("none", 2)

    async with service:
        await service.bus.publish_many(parcels())
    (batch,) = transport.batches
    assert [entry[4] for entry in batch.added] == ["t-1", "t-2", None]


async def test_a_tracker_gets_envelopes_and_a_transaction_the_outbox() -> None:
    service, transport, _ = _service()
    async with service:
        async with service.tracked() as log:
            await service.bus.publish_many([ParcelShipped("n", 1), ParcelShipped("n", 2)])
        (batch,) = transport.batches
        assert [entry[0] for entry in batch.added] == ["envelope", "envelope"]
        assert [a.envelope.message.seq for a in log.published if a.envelope] == [1, 2]
        assert {a.envelope.source for a in log.published if a.envelope} == {"/logistics/warehouse"}


async def test_a_failing_message_closes_the_batch_after_the_earlier_ones() -> None:
    service, transport, _ = _service()
    async with service:
        transport.fail_on = ParcelShipped("n", 2)
        with pytest.raises(MessageEncodeError):
            await service.bus.publish_many([ParcelShipped("n", n) for n in range(1, 4)])
    (batch,) = transport.batches
    assert batch.closed and not batch.settled
    assert [entry[1].seq for entry in batch.added] == [1]


async def test_a_handlers_bus_publishes_envelopes_that_carry_its_message() -> None:
    service, transport, _ = _service()

    async def on_start(event: Start, bus: MessageBus) -> None:
        await bus.publish_many([ParcelShipped("n", event.n)])

    service.add_handler(on_start)
    async with service:
        await service.bus.publish(Start(7))
        await service.runtime.wait_idle()
    (batch,) = transport.batches
    ((kind, envelope, topic, key),) = batch.added
    assert kind == "envelope" and topic == TOPIC and key == "n"
    assert envelope.causation_id is not None and envelope.message.seq == 7
