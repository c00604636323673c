"""Candidates of the kafka-latency benchmark: publish -> handler transit time at a fixed rate.

``run(n)`` publishes n records at ``RATE`` per second on an absolute schedule (a late tick
publishes at once, it never slows the rate down) and returns, for each record, the time from
the publish call to the moment the consumer's handler got it, in nanoseconds
(``time.perf_counter_ns`` in one process: the publisher and the consumer share the process,
and the machine's 2 cores with the broker).
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from bench.framework import Run
from bench.subjects.kafka_support import (
    BOOTSTRAP,
    TENANTS,
    Ping,
    environment,
    kafka_config,
    producer_config,
    topic_of,
    topics,
)

RATE = 1000.0
WAIT_SECONDS = 60.0


class Probe:
    """Collects the latencies of one run; ``wait(n)`` returns once n arrived."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self._expected = 0
        self._arrived = asyncio.Event()
        self._lock = threading.Lock()

    def start(self, n: int) -> None:
        """Expect ``n`` records (drops what a previous run left over)."""
        with self._lock:
            self.latencies = []
            self._expected = n
        self._arrived.clear()

    def record(self, sent_ns: int, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """One record arrived (from the loop, or from a thread when ``loop`` is given)."""
        latency = time.perf_counter_ns() - sent_ns
        with self._lock:
            self.latencies.append(latency)
            complete = len(self.latencies) == self._expected
        if complete:
            if loop is None:
                self._arrived.set()
            else:
                loop.call_soon_threadsafe(self._arrived.set)

    async def wait(self) -> Sequence[float]:
        """The latencies, once all expected records arrived."""
        await asyncio.wait_for(self._arrived.wait(), WAIT_SECONDS)
        with self._lock:
            return list(self.latencies)


async def _paced(n: int, send: Any) -> None:
    """Call ``send(i)`` n times at ``RATE`` per second on an absolute schedule."""
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        send(i)


@asynccontextmanager
async def raw_round_trip() -> AsyncIterator[Run]:
    """confluent-kafka: ``produce`` on the loop; a thread blocking in ``poll`` consumes."""
    from confluent_kafka import Consumer, Producer

    env = environment()
    async with topics([f"{env}.bench.raw-latency"]) as (topic,):
        loop = asyncio.get_running_loop()
        probe = Probe()
        producer: Any = Producer(producer_config())
        consumer: Any = Consumer(
            {
                "bootstrap.servers": BOOTSTRAP,
                "group.id": f"{env}-raw",
                "auto.offset.reset": "latest",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            }
        )
        assigned = threading.Event()
        stop = threading.Event()
        consumer.subscribe([topic], on_assign=lambda _c, _p: assigned.set())

        def consume() -> None:
            while not stop.is_set():
                message = consumer.poll(0.05)
                if message is None or message.error() is not None:
                    continue
                probe.record(struct.unpack_from(">q", message.value())[0], loop)
                consumer.commit(asynchronous=True)

        def serve_deliveries() -> None:
            while not stop.is_set():
                producer.poll(0.05)

        threads = [threading.Thread(target=f, daemon=True) for f in (consume, serve_deliveries)]
        for thread in threads:
            thread.start()
        keys = [str(t).encode() for t in TENANTS]
        padding = b"x" * 200  # about the size of the momentum record's JSON value

        def send(i: int) -> None:
            value = struct.pack(">q", time.perf_counter_ns()) + padding
            producer.produce(topic, value, keys[i % len(keys)])

        async def run(n: int) -> Sequence[float]:
            probe.start(n)
            await _paced(n, send)
            return await probe.wait()

        try:
            await asyncio.to_thread(assigned.wait, WAIT_SECONDS)
            await asyncio.sleep(0.5)  # the assignment's fetch positions settle
            yield run
        finally:
            stop.set()
            for thread in threads:
                await asyncio.to_thread(thread.join)
            await asyncio.to_thread(consumer.close)
            await asyncio.to_thread(producer.flush, 10)


@asynccontextmanager
async def momentum_round_trip() -> AsyncIterator[Run]:
    """One ``Service`` publishing ``Ping`` and handling it from Kafka (defaults)."""
    from momentum import Service
    from momentum.kafka import KafkaTransport

    env = environment()
    async with topics([topic_of(Ping, env)]):
        probe = Probe()

        async def handle(event: Ping) -> None:
            probe.record(event.sent_ns)

        transport = KafkaTransport(kafka_config())
        service = Service("bench-latency", "BenchKafka", transport=transport, environment=env)
        service.add_handler(handle)
        async with service:
            bus = service.bus
            pending: set[asyncio.Task[None]] = set()

            def send(i: int) -> None:
                task = asyncio.ensure_future(
                    bus.publish(Ping(TENANTS[i % len(TENANTS)], time.perf_counter_ns()))
                )
                pending.add(task)
                task.add_done_callback(pending.discard)

            async def run(n: int) -> Sequence[float]:
                probe.start(n)
                await _paced(n, send)
                latencies = await probe.wait()
                await asyncio.gather(*pending)
                return latencies

            await transport.wait_idle()  # assigned and caught up
            yield run
