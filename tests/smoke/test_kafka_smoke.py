"""Smoke test: the Kafka broker from `scripts/services up` creates topics, stores, delivers.

Also pins down where keyed records land. librdkafka (so confluent-kafka for Python and .NET)
defaults to the `consistent_random` partitioner: CRC-32 of the key modulo the partition count.
Java clients use murmur2 (librdkafka's `murmur2_random`). Both are computed here independently.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.kafka

PARTITIONS = 3
KEYS = [f"tenant-{i}".encode() for i in range(24)]
TIMEOUT = 30.0


def murmur2(data: bytes) -> int:
    """Kafka's `Utils.murmur2` (the Java default partitioner's hash), as a signed 32-bit int."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = length & ~3
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key: bytes, partitions: int) -> int:
    """Partition chosen by Java's default partitioner and librdkafka's `murmur2_random`."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def librdkafka_default_partition(key: bytes, partitions: int) -> int:
    """Partition chosen by librdkafka's default `consistent_random` partitioner (CRC-32)."""
    return zlib.crc32(key) % partitions


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)  # poll interval, not a wait for an outcome


def test_murmur2_matches_kafka_reference_values() -> None:
    # Expected values from Kafka's UtilsTest.testMurmur2.
    cases = {
        "21": -973932308,
        "foobar": -790332482,
        "a-little-bit-long-string": -985981536,
        "a-little-bit-longer-string": -1486304829,
        "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        "abc": 479470107,
    }
    assert {text: murmur2(text.encode()) for text in cases} == cases


@pytest.fixture
def topic(kafka_bootstrap: str, unique_name: str) -> Iterator[str]:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    new = NewTopic(unique_name, num_partitions=PARTITIONS, replication_factor=1)
    admin.create_topics([new], operation_timeout=TIMEOUT)[unique_name].result(timeout=TIMEOUT)

    def has_leaders() -> bool:
        described = admin.list_topics(unique_name, timeout=TIMEOUT).topics.get(unique_name)
        return (
            described is not None
            and described.error is None
            and len(described.partitions) == PARTITIONS
            and all(p.leader >= 0 for p in described.partitions.values())
        )

    wait_until(has_leaders, TIMEOUT, f"leaders for all partitions of {unique_name}")
    yield unique_name
    admin.delete_topics([unique_name], operation_timeout=TIMEOUT)[unique_name].result(
        timeout=TIMEOUT
    )


Record = tuple[bytes, bytes, int]  # key, value, partition


def produce(bootstrap: str, topic: str, values: dict[bytes, bytes], **config: str) -> list[Record]:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, **config}
    )
    delivered: list[Record] = []
    errors: list[str] = []

    def on_delivery(error: object, message: Message) -> None:
        if error is not None:
            errors.append(str(error))
        else:
            delivered.append((message.key(), message.value(), message.partition()))

    for key, value in values.items():
        producer.produce(
            topic, key=key, value=value, headers=[("ce_id", value)], on_delivery=on_delivery
        )
    assert producer.flush(TIMEOUT) == 0, "records still in flight after flush"
    assert errors == []
    assert len(delivered) == len(values)
    return delivered


def test_keyed_records_land_on_the_expected_partitions_and_come_back(
    kafka_bootstrap: str, topic: str, unique_name: str
) -> None:
    by_default = produce(kafka_bootstrap, topic, {k: b"default:" + k for k in KEYS})
    by_murmur2 = produce(
        kafka_bootstrap, topic, {k: b"murmur2:" + k for k in KEYS}, partitioner="murmur2_random"
    )

    for key, _, partition in by_default:
        assert partition == librdkafka_default_partition(key, PARTITIONS), key
    for key, _, partition in by_murmur2:
        assert partition == java_partition(key, PARTITIONS), key
    # The keys spread over every partition, and the two hashes disagree for some keys: both
    # assertions above are doing real work.
    assert {p for _, _, p in by_default} == set(range(PARTITIONS))
    assert {p for _, _, p in by_murmur2} == set(range(PARTITIONS))
    assert any(librdkafka_default_partition(k, 3) != java_partition(k, 3) for k in KEYS)

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": unique_name,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    received: list[Record] = []
    offsets: dict[int, list[int]] = {}
    try:
        consumer.subscribe([topic])
        expected = len(by_default) + len(by_murmur2)
        deadline = time.monotonic() + 60
        while len(received) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            received.append((message.key(), message.value(), message.partition()))
            offsets.setdefault(message.partition(), []).append(message.offset())
            assert message.headers() == [("ce_id", message.value())]
    finally:
        consumer.close()

    assert sorted(received) == sorted(by_default + by_murmur2)
    for partition, seen in offsets.items():
        assert seen == sorted(seen), f"partition {partition} delivered out of order"
