"""Catching up with the high watermarks: what ``KafkaTransport.wait_idle`` waits for.

On the consumer thread, each assigned partition's high watermark and the offset consumption
starts from (its committed offset, else its low watermark) are read once; on the loop, the
wait lasts until every partition still assigned is handled up to that watermark.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from confluent_kafka import TopicPartition

from momentum.contracts.errors import TransportError
from momentum.kafka.consumer import ConsumerThread

Targets = dict[tuple[str, int], tuple[int, int]]
"""Per assigned partition: (high watermark, offset consumption starts from)."""

WATERMARK_TIMEOUT = 10.0


async def caught_up(consumer: ConsumerThread) -> None:
    """Return once ``consumer`` handled every assigned partition up to its high watermark."""
    if consumer.failure is not None:
        raise TransportError(f"the Kafka consumer failed: {consumer.failure!r}")
    dispatcher = consumer.dispatcher
    await dispatcher.assigned_once.wait()
    targets = await consumer.query(lambda c: _targets(consumer, c))
    while True:
        changed = dispatcher.watch()
        behind = False
        for tp, (high, start) in targets.items():
            if tp not in dispatcher.workers:
                continue  # revoked meanwhile: another member handles it
            position = dispatcher.position(tp)
            if (start if position is None else position) < high:
                behind = True
                break
        if not behind:
            return
        if consumer.failure is not None:
            raise TransportError(f"the Kafka consumer failed: {consumer.failure!r}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), 0.5)


def _targets(thread: ConsumerThread, consumer: Any) -> Targets:
    """On the consumer thread: high watermark and starting offset of each assigned partition."""
    targets: Targets = {}
    assigned = [TopicPartition(t, p) for t, p in thread.epochs]
    if not assigned:
        return targets
    lows: dict[tuple[str, int], int] = {}
    for tp in assigned:
        low, high = consumer.get_watermark_offsets(tp, timeout=WATERMARK_TIMEOUT, cached=False)
        lows[(tp.topic, tp.partition)] = low
        targets[(tp.topic, tp.partition)] = (high, low)
    for committed in consumer.committed(assigned, timeout=WATERMARK_TIMEOUT):
        key = (committed.topic, committed.partition)
        if committed.offset >= 0:
            targets[key] = (targets[key][0], committed.offset)
    return targets
