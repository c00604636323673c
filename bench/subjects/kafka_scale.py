"""Candidates of the kafka-scale benchmark: 1, 2 or 4 consumer processes in one group.

All candidates read one shared topic of 8 partitions, created and pre-filled (untimed) by
the first candidate's setup with enough momentum-encoded ``CashierCreated`` records for the
warm-up and every round (partition ``i % 8``, so partitions are equal; each tenant key stays
on one partition), and deleted when the last candidate exits. Each candidate is its own
consumer group: N processes (``multiprocessing`` spawn), each running a started ``Service``
(``KafkaTransport`` defaults, ``database_url="memory://"``, default middleware) with one
trivial handler. The processes start with their transport paused; setup waits until the
group is stable with every partition assigned, then lets them handle.

The processes share one budget, a semaphore of permits: the handler takes a permit before it
counts its record (a handler without one waits, so between rounds the processes only
prefetch, as any consumer does). ``run(n)`` releases n permits and returns when the
processes together counted n more records: the time from the release to the n-th record
handled, i.e. first to last record of the round, across processes.

Caveat (as in kafka-consume): each process fetches and decodes up to
``max_buffered_per_partition`` (5000) records per partition ahead of its handlers, also
between rounds, so up to 40k of a round's records were decoded before it began.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bench.framework import Run, current_config
from bench.subjects.kafka_support import (
    BOOTSTRAP,
    DOMAIN,
    TENANTS,
    TIMEOUT,
    CashierCreated,
    _delete,
    _require_broker,
    encoded_record,
    environment,
    kafka_config,
    producer_config,
    topic_of,
)

PARTITIONS = 8
STARTUP_SECONDS = 120.0
STALL_SECONDS = 60.0


# -- the consumer processes ---------------------------------------------------------------------


class Permits:
    """A process's side of the shared budget: ``take()`` one permit per handled record."""

    def __init__(self, semaphore: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.semaphore = semaphore
        self.loop = loop
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.wanted = threading.Event()
        self.stopped = False
        self.thread = threading.Thread(target=self._pump, name="bench-permits", daemon=True)
        self.thread.start()

    async def take(self) -> None:
        """Take a permit: at once when one is free, else wait for the pump thread's."""
        if self.stopped or self.semaphore.acquire(False):
            return
        waiter = self.loop.create_future()
        self.waiters.append(waiter)
        self.wanted.set()
        await waiter

    def _pump(self) -> None:
        """Blocks on the semaphore while handlers wait, handing each permit to the loop."""
        while not self.stopped:
            if not self.wanted.wait(0.2):
                continue
            if self.semaphore.acquire(True, 0.2):
                self.loop.call_soon_threadsafe(self._grant)

    def _grant(self) -> None:
        while self.waiters and self.waiters[0].done():
            self.waiters.popleft()
        if self.waiters:
            self.waiters.popleft().set_result(None)
        else:
            self.semaphore.release()  # a handler took one meanwhile: give it back
        if not self.waiters:
            self.wanted.clear()

    def stop(self) -> None:
        """Let every waiting and future handler through (before stopping the service)."""
        self.stopped = True
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


def consumer_process(
    env: str, name: str, index: int, permits: Any, counts: Any, ready: Any, go: Any, stop: Any
) -> None:
    """Entry point of one consumer process."""
    asyncio.run(_consume(env, name, index, permits, counts, ready, go, stop))


async def _consume(
    env: str,
    name: str,
    index: int,
    semaphore: Any,
    counts: Any,
    ready: Any,
    go: Any,
    stop: Any,
) -> None:
    from momentum import Service
    from momentum.kafka import KafkaTransport

    loop = asyncio.get_running_loop()
    permits = Permits(semaphore, loop)

    async def handle(event: CashierCreated) -> None:
        await permits.take()
        counts[index] += 1

    # Paused until the whole group is assigned: a handler waiting for a permit would hold
    # up every rebalance of the start-up (a revoke waits for running handlers).
    transport = KafkaTransport(kafka_config())
    transport.pause()
    service = Service(
        name,
        DOMAIN,
        transport=transport,
        environment=env,
        database_url="memory://",
        # default middleware; a handler waiting between rounds is not worth a warning
        middleware={"slow_handler_seconds": 3600.0},
    )
    service.add_handler(handle)
    try:
        async with service:
            ready.set()
            await asyncio.to_thread(go.wait)
            transport.resume()
            await asyncio.to_thread(stop.wait)
            transport.pause()
            permits.stop()
    finally:
        permits.stop()


# -- the shared topic ---------------------------------------------------------------------------


def _create(topic: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)],
        operation_timeout=TIMEOUT,
    )
    for future in futures.values():
        future.result(timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while True:  # wait until every partition has a leader
        described = admin.list_topics(topic, timeout=TIMEOUT).topics.get(topic)
        if (
            described is not None
            and described.error is None
            and len(described.partitions) == PARTITIONS
            and all(p.leader >= 0 for p in described.partitions.values())
        ):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} got no leaders")
        time.sleep(0.05)  # poll interval while the controller elects leaders


def _prefill(topic: str, count: int) -> None:
    """``count`` momentum-encoded records (unique ``ce_id``), partition ``i % 8``; blocking."""
    from uuid import uuid4

    from confluent_kafka import Producer

    _, value, headers = encoded_record()
    keys = [str(t).encode() for t in TENANTS]
    position = next(i for i, (name, _) in enumerate(headers) if name == "ce_id")
    producer = Producer({**producer_config(), "linger.ms": 20})
    for i in range(count):
        record_headers = list(headers)
        record_headers[position] = ("ce_id", str(uuid4()).encode())
        while True:
            try:
                producer.produce(
                    topic,
                    value,
                    keys[i % len(keys)],
                    partition=i % PARTITIONS,
                    headers=record_headers,
                )
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(TIMEOUT)
    if remaining:
        raise RuntimeError(f"prefill of {topic}: {remaining} records undelivered")


_shared: dict[str, Any] = {"users": 0}


@asynccontextmanager
async def _shared_topic() -> AsyncIterator[str]:
    """The environment of the shared pre-filled topic (the first user creates it)."""
    if _shared["users"] == 0:
        await asyncio.to_thread(_require_broker)
        env = environment()
        topic = topic_of(CashierCreated, env)
        await asyncio.to_thread(_create, topic)
        _shared.update(env=env, topic=topic)
        try:
            config = current_config()
            count = (config.ops or 10_000) * (config.rounds + 1) + 1000
            await asyncio.to_thread(_prefill, topic, count)
        except BaseException:
            await asyncio.to_thread(_delete, [topic])
            raise
    _shared["users"] += 1
    try:
        yield _shared["env"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            await asyncio.to_thread(_delete, [_shared["topic"]])


# -- the candidates -----------------------------------------------------------------------------


def _group_stable(group: str, members: int, deadline: float) -> None:
    """Wait until ``group`` is stable with ``members`` members holding every partition."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    seen = "not described yet"
    while time.monotonic() < deadline:
        future = admin.describe_consumer_groups([group], request_timeout=10)[group]
        with contextlib.suppress(Exception):
            description = future.result(timeout=15)
            assigned = [
                len(m.assignment.topic_partitions) if m.assignment else 0
                for m in description.members
            ]
            seen = f"state {description.state}, assignments {assigned}"
            if (
                description.state == ConsumerGroupState.STABLE
                and len(assigned) == members
                and sum(assigned) == PARTITIONS
                and all(assigned)
            ):
                return
        time.sleep(0.2)  # poll interval while the group rebalances
    raise RuntimeError(f"consumer group {group} did not settle: {seen}")


@asynccontextmanager
async def _scale(processes: int) -> AsyncIterator[Run]:
    async with _shared_topic() as env:
        context = multiprocessing.get_context("spawn")
        permits = context.Semaphore(0)
        counts = context.RawArray("q", processes)
        go = context.Event()
        stop = context.Event()
        readies = [context.Event() for _ in range(processes)]
        name = f"bench-scale-{processes}"
        group = f"{env}.{name}"
        workers = [
            context.Process(
                target=consumer_process,
                args=(env, name, i, permits, counts, readies[i], go, stop),
                name=f"{name}-{i}",
                daemon=True,
            )
            for i in range(processes)
        ]
        for worker in workers:
            worker.start()
        target = 0

        def check_alive() -> None:
            dead = [w.name for w in workers if not w.is_alive()]
            if dead:
                raise RuntimeError(f"consumer process(es) exited: {', '.join(dead)}")

        async def run(n: int) -> None:
            nonlocal target
            target += n
            for _ in range(n):
                permits.release()
            deadline = time.monotonic() + STALL_SECONDS + n / 1000
            checked = time.monotonic()
            while sum(counts) < target:
                await asyncio.sleep(0.001)  # poll interval of the shared counters
                now = time.monotonic()
                if now - checked > 1:
                    checked = now
                    check_alive()
                    if now > deadline:
                        raise RuntimeError(f"{group}: {sum(counts)} of {target} handled")

        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            for ready in readies:
                while not await asyncio.to_thread(ready.wait, 1.0):
                    check_alive()
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{group}: consumer processes did not start")
            await asyncio.to_thread(_group_stable, group, processes, deadline)
            go.set()
            yield run
        finally:
            stop.set()
            go.set()  # processes still waiting for the group (a failed setup) stop too
            for worker in workers:
                await asyncio.to_thread(worker.join, 30)
            for worker in workers:
                if worker.is_alive():
                    worker.terminate()
                    await asyncio.to_thread(worker.join, 5)


def one_process() -> Any:
    """One consumer process holding all 8 partitions."""
    return _scale(1)


def two_processes() -> Any:
    """Two consumer processes, 4 partitions each."""
    return _scale(2)


def four_processes() -> Any:
    """Four consumer processes, 2 partitions each."""
    return _scale(4)
