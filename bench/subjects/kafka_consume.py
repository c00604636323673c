"""Candidates of the kafka-consume benchmark: handle n records of a pre-filled topic.

Each candidate gets its own topic, pre-filled (untimed, at setup) with enough
momentum-encoded ``CashierCreated`` records for the warm-up and every round, and its own
consumer group reading it from the start. ``run(n)`` lets exactly n more records be handled
and returns when the n-th is: a handler that would go past the budget waits for the next
round (the raw loop simply stops consuming), so between rounds the clients only prefetch,
as any consumer does.

Caveat: momentum decodes records on its consumer thread before they reach a handler and
buffers up to ``max_buffered_per_partition`` (5000) of them per partition, so up to ~16k of a
round's records were fetched and decoded before the round began (rounds are 100k records).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bench.framework import Run, current_config
from bench.subjects.kafka_support import (
    BOOTSTRAP,
    CashierCreated,
    environment,
    kafka_config,
    prefill,
    topic_of,
    topics,
)

BATCH = 500
POLL_TIMEOUT = 0.1
STALL_SECONDS = 60.0


def _records_needed(ops_hint: int) -> int:
    config = current_config()
    ops = config.ops or ops_hint
    # the warm-up, every round, and what momentum may have buffered ahead of each round
    return ops * (config.rounds + 2) + 1000


class Budget:
    """How many records the handlers may still handle; ``run(n)`` raises it by n."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self._more = asyncio.Event()
        self._done = asyncio.Event()

    async def take(self) -> None:
        """Called by the handler: wait for budget, then count one handled record."""
        while self.count >= self.target:
            await self._more.wait()
        self.count += 1
        if self.count >= self.target:
            self._more.clear()
            self._done.set()

    async def run(self, n: int) -> None:
        """Allow ``n`` more records and wait until they are handled."""
        self.target += n
        if self.count >= self.target:
            return
        self._done.clear()
        self._more.set()
        await asyncio.wait_for(self._done.wait(), STALL_SECONDS + n / 1000)

    def release(self) -> None:
        """Let every waiting handler through (before stopping the consumer)."""
        self.target = math.inf  # type: ignore[assignment]
        self._more.set()


@asynccontextmanager
async def raw_consume() -> AsyncIterator[Run]:
    """A confluent-kafka loop: ``consume(500)`` batches, ``commit(asynchronous=True)``."""
    from confluent_kafka import Consumer

    env = environment()
    async with topics([f"{env}.bench.raw-consume"]) as (topic,):
        await asyncio.to_thread(prefill, topic, _records_needed(100_000))
        consumer: Any = Consumer(
            {
                "bootstrap.servers": BOOTSTRAP,
                "group.id": f"{env}-raw",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            }
        )
        consumer.subscribe([topic])
        surplus = 0

        def consume(n: int) -> int:
            handled = 0
            idle = 0.0
            while handled < n:
                messages = consumer.consume(BATCH, POLL_TIMEOUT)
                if not messages:
                    idle += POLL_TIMEOUT
                    if idle > STALL_SECONDS:
                        raise RuntimeError("raw consume: no records")
                    continue
                for message in messages:
                    if message.error() is None:
                        message.value()  # the trivial handler
                        handled += 1
                consumer.commit(asynchronous=True)
            return handled - n

        async def run(n: int) -> None:
            nonlocal surplus
            if surplus >= n:
                surplus -= n
                return
            surplus = await asyncio.to_thread(consume, n - surplus)

        try:
            yield run
        finally:
            await asyncio.to_thread(consumer.close)


@asynccontextmanager
async def _momentum(*, middleware: bool) -> AsyncIterator[Run]:
    from momentum import Service
    from momentum.kafka import KafkaTransport

    env = environment()
    async with topics([topic_of(CashierCreated, env)]) as (topic,):
        await asyncio.to_thread(prefill, topic, _records_needed(100_000))
        transport = KafkaTransport(kafka_config())
        budget = Budget()

        async def handle(event: CashierCreated) -> None:
            await budget.take()

        options: dict[str, Any] = {} if middleware else {"middleware": {"enabled": False}}
        service = Service(
            "bench-consumer",
            "BenchKafka",
            transport=transport,
            environment=env,
            **options,
        )
        service.add_handler(handle)
        async with service:
            try:
                yield budget.run
            finally:
                budget.release()


def momentum_consume() -> Any:
    """A started ``Service`` with one trivial handler; default settings (middleware on)."""
    return _momentum(middleware=True)


def momentum_consume_no_middleware() -> Any:
    """As :func:`momentum_consume` with ``middleware={"enabled": False}``."""
    return _momentum(middleware=False)


@asynccontextmanager
async def faststream_consume() -> AsyncIterator[Run]:
    """A FastStream ``KafkaBroker`` (aiokafka) subscriber with a trivial handler."""
    from faststream.kafka import KafkaBroker

    env = environment()
    async with topics([f"{env}.bench.faststream-consume"]) as (topic,):
        await asyncio.to_thread(prefill, topic, _records_needed(100_000))
        budget = Budget()
        broker = KafkaBroker(BOOTSTRAP, logger=None)

        # aiokafka heartbeats from the event loop, which the other candidates keep busy for
        # seconds while it waits for its turn: a longer session keeps it in its group (it was
        # evicted and rejoined, and once stalled a run), without changing its handling.
        @broker.subscriber(
            topic,
            group_id=f"{env}-faststream",
            auto_offset_reset="earliest",
            session_timeout_ms=60_000,
            heartbeat_interval_ms=5_000,
        )
        async def handle(body: dict[str, Any]) -> None:
            await budget.take()

        await broker.start()
        try:
            yield budget.run
        finally:
            budget.release()
            await broker.stop()
