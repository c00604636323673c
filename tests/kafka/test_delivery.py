"""Offsets, restarts, poison records and foreign producers against the real broker."""

from __future__ import annotations

import asyncio
import json
import uuid
import zlib
from collections.abc import Callable

import pytest
from confluent_kafka import Producer
from kafka_support import committed_offsets, read_records, wait_for
from momentum_kafka_events import OrderPlaced

from momentum import Envelope, Service
from momentum.contracts.message_types import message_type_name
from momentum.kafka import KafkaConfig, KafkaTransport
from momentum.testing import tracked

pytestmark = pytest.mark.kafka

CUSTOMERS = ("ada", "bob", "cyd", "dee", "eve", "fay")


def raw_producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})


async def test_a_stopped_consumer_commits_what_it_handled_and_a_new_one_continues(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    topic = f"{environment}.kafkatests.public.orders.v1"
    first: list[tuple[str, int, int, int]] = []  # customer, seq, partition, offset
    second: list[tuple[str, int, int, int]] = []

    def recorder(into: list[tuple[str, int, int, int]], delay: float):
        async def placed(event: OrderPlaced, envelope: Envelope) -> None:
            await asyncio.sleep(delay)
            assert envelope.origin is not None
            origin = envelope.origin
            into.append((event.customer, event.seq, origin.partition or 0, origin.offset or 0))

        return placed

    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    async with shop:
        for seq in range(50):
            for customer in CUSTOMERS:
                await shop.bus.publish(OrderPlaced(customer, seq))

    billing = Service(
        "billing", "Billing", transport=KafkaTransport(make_config()), environment=environment
    )
    billing.add_handler(recorder(first, 0.002))
    await billing.start()
    group = billing.group_id
    try:
        await wait_for(lambda: len(first) >= 60, "60 records handled by the first consumer")
    finally:
        await billing.stop()  # mid-stream: running handlers finish, their offsets are committed
    assert len(first) < 300

    committed = committed_offsets(kafka_bootstrap, group, topic)
    for partition in range(3):
        handled = sorted(o for _, _, p, o in first if p == partition)
        assert handled == list(range(len(handled))), "handled out of order or with gaps"
        expected = len(handled) if handled else -1001
        assert committed[partition] == expected, (partition, committed, len(handled))

    again = Service(
        "billing", "Billing", transport=KafkaTransport(make_config()), environment=environment
    )
    again.add_handler(recorder(second, 0))
    async with again, tracked(again, timeout=60):
        pass
    assert again.group_id == group
    everything = [(c, s) for c, s, _, _ in first + second]
    assert sorted(everything) == sorted((c, s) for c in CUSTOMERS for s in range(50))
    assert len(everything) == len(set(everything)), "a committed record was redelivered"
    for customer in CUSTOMERS:
        assert [s for c, s in everything if c == customer] == list(range(50))
    assert committed_offsets(kafka_bootstrap, group, topic) == [
        1 + max(o for _, _, p, o in first + second if p == partition) for partition in range(3)
    ]


async def test_the_commit_never_passes_a_record_still_being_handled(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    topic = f"{environment}.kafkatests.public.orders.v1"
    release = asyncio.Event()
    done: list[str] = []

    def partition(key: str) -> int:  # librdkafka's default partitioner (tests/smoke)
        return zlib.crc32(key.encode()) % 3

    def lane(key: str) -> int:  # the transport's lane of a key within its partition
        return zlib.crc32(key.encode()) % 8

    async def placed(event: OrderPlaced, envelope: Envelope) -> None:
        assert envelope.origin is not None
        assert envelope.origin.partition == partition(event.customer)
        if event.customer == "ada":
            await release.wait()
        done.append(event.customer)

    # eight lanes per partition: other keys of ada's partition overtake her blocked record
    config = make_config(key_concurrency=8, revoke_timeout=5)
    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    billing = Service(
        "billing", "Billing", transport=KafkaTransport(config), environment=environment
    )
    billing.add_handler(placed)
    customers = [f"c{i}" for i in range(40)]
    ada = partition("ada")
    blocked = [c for c in customers if partition(c) == ada and lane(c) == lane("ada")]
    overtaking = [c for c in customers if partition(c) == ada and c not in blocked]
    assert overtaking, "no key overtakes ada: pick other customers"
    ends = [sum(1 for c in customers if partition(c) == p) for p in range(3)]
    async with shop, billing:
        await shop.bus.publish(OrderPlaced("ada", 0))
        for customer in customers:
            await shop.bus.publish(OrderPlaced(customer, 0))
        await wait_for(
            lambda: len(done) == len(customers) - len(blocked), "the records of other lanes"
        )
        group = billing.group_id

        async def committed() -> list[int]:
            return await asyncio.to_thread(committed_offsets, kafka_bootstrap, group, topic)

        # Once the other partitions are committed to their end, a commit cycle has run after
        # every overtaking record completed: ada's partition still must not have moved.
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            offsets = await committed()
            if all(offsets[p] == ends[p] for p in range(3) if p != ada and ends[p] > 0):
                break
            assert asyncio.get_running_loop().time() < deadline, offsets
        assert offsets[ada] in (-1001, 0), offsets
        release.set()
        deadline = asyncio.get_running_loop().time() + 30
        while (await committed())[ada] != 1 + ends[ada]:
            assert asyncio.get_running_loop().time() < deadline, "commit did not reach the end"
    assert sorted(done) == sorted(["ada", *customers])


async def test_poison_and_unknown_records_are_committed_without_stalling(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    topic = f"{environment}.kafkatests.public.orders.v1"
    got: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        got.append(event.seq)

    producer = raw_producer(kafka_bootstrap)
    type_name = message_type_name(OrderPlaced)

    def headers(ce_type: str, **extra: bytes) -> list[tuple[str, bytes]]:
        values = {
            "ce_specversion": b"1.0",
            "ce_id": str(uuid.uuid4()).encode(),
            "ce_type": ce_type.encode(),
            "ce_source": b"/test/raw",
            "content-type": b"application/json",
            **extra,
        }
        return list(values.items())

    def raw(value: bytes, record_headers: list[tuple[str, bytes]]) -> None:
        producer.produce(topic, value, b"ada", headers=record_headers)
        assert producer.flush(10) == 0

    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    billing = Service(
        "billing", "Billing", transport=KafkaTransport(make_config()), environment=environment
    )
    billing.add_handler(placed)
    async with shop, billing:
        async with tracked(shop, billing, timeout=60):
            await shop.bus.publish(OrderPlaced("ada", 0))
            raw(b"{not json", headers(type_name))  # bad JSON
            raw(b'{"customer": "ada", "seq": 1}', [("ce_specversion", b"\xff\xfe\x00")])
            raw(b'{"customer": "ada"}', headers(type_name))  # schema mismatch
            raw(b"{}", [])  # no CloudEvents headers at all
            await shop.bus.publish(OrderPlaced("ada", 1))
            raw(b'{"x": 1}', headers("Other.Service.SomethingHappened"))  # not ours: skipped
            await shop.bus.publish(OrderPlaced("ada", 2))
        transport = billing.transport
        assert isinstance(transport, KafkaTransport)
        assert got == [0, 1, 2]
        assert transport.poison_records == 4
        assert transport.skipped_records == 1
        group = billing.group_id
    committed = committed_offsets(kafka_bootstrap, group, topic)
    assert sorted(committed)[-1] == 8  # every record of ada's partition, poison included
    # every poison record was dead-lettered, as read, with its reason and origin
    dead = read_records(kafka_bootstrap, f"{topic}.dlq", 4)
    reasons = []
    for record in dead:
        found = {k: v for k, v in record.headers() or []}
        reasons.append(found["momentum-dlq-reason"].decode())
        assert found["momentum-dlq-original-topic"].decode() == topic
        assert int(found["momentum-dlq-original-offset"]) >= 1
        assert record.key() == b"ada"
    assert sorted(reasons) == [
        "invalid-cloudevent",  # garbled ce_specversion
        "invalid-cloudevent",  # no CloudEvents headers at all
        "invalid-json",
        "schema-mismatch",
    ]
    assert any(r.value() == b"{not json" for r in dead)


async def test_a_structured_event_from_the_cloudevents_sdk_is_handled(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    from cloudevents.core.bindings.kafka import to_structured_event
    from cloudevents.core.v1.event import CloudEvent

    topic = f"{environment}.kafkatests.public.orders.v1"
    got: list[tuple[str, int, str | None]] = []

    async def placed(event: OrderPlaced, envelope: Envelope) -> None:
        got.append((event.customer, event.seq, envelope.source))

    event_id = str(uuid.uuid4())
    message = to_structured_event(
        CloudEvent(
            {
                "type": message_type_name(OrderPlaced),
                "source": "/dotnet/orders",
                "id": event_id,
                "datacontenttype": "application/json",
                "partitionkey": "ada",
            },
            {"Customer": "ada", "Seq": 7},  # PascalCase, as .NET may write it
        )
    )
    billing = Service(
        "billing", "Billing", transport=KafkaTransport(make_config()), environment=environment
    )
    billing.add_handler(placed)
    async with billing, tracked(billing, timeout=60):
        producer = raw_producer(kafka_bootstrap)
        key = message.key.encode() if isinstance(message.key, str) else message.key
        producer.produce(topic, message.value, key, headers=list(message.headers.items()))
        assert producer.flush(10) == 0
    assert got == [("ada", 7, "/dotnet/orders")]
    assert json.loads(message.value)["id"] == event_id
