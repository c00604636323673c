"""Helpers of the Kafka transport tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, TopicPartition

TIMEOUT = 30.0


async def wait_for(condition: Callable[[], bool], what: str, limit: float = TIMEOUT) -> None:
    """Wait until `condition()` holds; fail naming `what` after `limit` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        await asyncio.sleep(0.01)  # poll interval, not a wait for an outcome


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int = 3) -> list[int]:
    """The group's committed offset of each partition of `topic` (-1001: none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10
        )
        return [tp.offset for tp in sorted(found, key=lambda tp: tp.partition)]
    finally:
        consumer.close()


def read_records(bootstrap: str, topic: str, count: int, limit: float = TIMEOUT) -> list[Any]:
    """The first `count` records of `topic` (every partition, from the start), as polled.

    Blocking: run it with `asyncio.to_thread`. Fails after `limit` seconds.
    """
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"read-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    reader.subscribe([topic])
    found: list[Any] = []
    deadline = time.monotonic() + limit
    try:
        while len(found) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"read {len(found)} of {count} records of {topic}")
            record = reader.poll(0.5)
            if record is not None and record.error() is None:
                found.append(record)
    finally:
        reader.close()
    return found


def group_members(bootstrap: str, group: str) -> int:
    """How many members the consumer group `group` has now (0 for a group never joined)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    description = admin.describe_consumer_groups([group])[group].result(timeout=TIMEOUT)
    return len(description.members)


def records_in(bootstrap: str, topic: str, partitions: int = 3, limit: float = TIMEOUT) -> int:
    """How many records `topic` holds (the sum of its partitions' high watermarks).

    Retries while the broker answers with a transient error (a topic just created may report
    NOT_LEADER_FOR_PARTITION until its leaders are known to every broker's metadata).
    Blocking.
    """
    from confluent_kafka import KafkaError, KafkaException

    settling = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    deadline = time.monotonic() + limit
    try:
        while True:
            try:
                return sum(
                    consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in range(partitions)
                )
            except KafkaException as exc:
                error = exc.args[0]
                transient = error.retriable() or error.code() in settling
                if not transient or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # the broker's metadata settles; nothing to wait on
    finally:
        consumer.close()
