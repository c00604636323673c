"""Candidates of the kafka-publish benchmark: n records to a real broker, all acknowledged.

Both candidates use momentum's producer properties (idempotence, acks=all, zstd,
linger.ms=1) and wait, inside the timed operation, until every record they sent is
acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bench.framework import Run
from bench.subjects.kafka_support import (
    BOOTSTRAP,
    CashierCreated,
    cashier_created,
    encoded_record,
    environment,
    kafka_config,
    producer_config,
    topic_of,
    topics,
)

FLUSH_TIMEOUT = 60.0


@asynccontextmanager
async def raw_produce() -> AsyncIterator[Run]:
    """``producer.produce(...)`` of one pre-encoded record n times, then ``flush``."""
    from confluent_kafka import Producer

    env = environment()
    async with topics([topic_of(CashierCreated, env)]) as (topic,):
        key, value, headers = encoded_record()
        producer: Any = Producer(producer_config())
        failures: list[Any] = []
        lock = threading.Lock()

        def on_delivery(error: Any, _message: Any) -> None:
            if error is not None:
                with lock:
                    failures.append(error)

        def produce_all(n: int) -> None:
            produce = producer.produce
            for _ in range(n):
                while True:
                    try:
                        produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                        break
                    except BufferError:
                        producer.poll(0.005)
            if producer.flush(FLUSH_TIMEOUT):
                raise RuntimeError("raw produce: records left undelivered")
            if failures:
                raise RuntimeError(f"raw produce: delivery failed: {failures[0]}")

        async def run(n: int) -> None:
            # produce() and flush() on a worker thread, like momentum's poll thread serves
            # delivery reports off the loop; the loop just waits.
            await asyncio.to_thread(produce_all, n)

        try:
            yield run
        finally:
            await asyncio.to_thread(producer.flush, FLUSH_TIMEOUT)


@asynccontextmanager
async def started_service() -> AsyncIterator[Any]:
    """A started publishing ``Service`` over a ``KafkaTransport``, connected (one event sent)."""
    from momentum import Service
    from momentum.kafka import KafkaTransport

    env = environment()
    async with topics([topic_of(CashierCreated, env)]):
        service = Service(
            "bench-publisher",
            "BenchKafka",
            transport=KafkaTransport(kafka_config()),
            environment=env,
        )
        async with service:
            await service.bus.publish(cashier_created())  # connected, topic metadata known
            yield service


@asynccontextmanager
async def momentum_publish() -> AsyncIterator[Run]:
    """``asyncio.gather`` of n ``service.bus.publish(event)`` (each awaits its ack)."""
    async with started_service() as service:
        bus = service.bus
        event = cashier_created()

        async def run(n: int) -> None:
            await asyncio.gather(*[bus.publish(event) for _ in range(n)])

        yield run


@asynccontextmanager
async def _faststream_broker() -> AsyncIterator[tuple[Any, str]]:
    """A started FastStream ``KafkaBroker`` on confluent-kafka with momentum's producer settings."""
    from faststream.confluent import KafkaBroker

    env = environment()
    async with topics([topic_of(CashierCreated, env)]) as (topic,):
        broker = KafkaBroker(
            BOOTSTRAP,
            acks="all",
            enable_idempotence=True,
            compression_type="zstd",
            linger_ms=1,
            logger=None,
        )
        await broker.start()
        try:
            await broker.publish(cashier_created(), topic=topic)  # connected, metadata known
            yield broker, topic
        finally:
            await broker.stop()


@asynccontextmanager
async def faststream_publish_batch() -> AsyncIterator[Run]:
    """``await broker.publish_batch(*events, topic=...)``: FastStream's batch API."""
    async with _faststream_broker() as (broker, topic):
        event = cashier_created()

        async def run(n: int) -> None:
            await broker.publish_batch(*[event] * n, topic=topic)

        yield run


@asynccontextmanager
async def faststream_publish() -> AsyncIterator[Run]:
    """``asyncio.gather`` of n ``broker.publish(event, topic=..., key=...)`` (each confirmed)."""
    async with _faststream_broker() as (broker, topic):
        event = cashier_created()
        key = str(event.tenant_id)

        async def run(n: int) -> None:
            await asyncio.gather(*[broker.publish(event, topic=topic, key=key) for _ in range(n)])

        yield run
