"""Publishing integration events to a real Kafka broker, every record acknowledged.

The raw baseline, ``bus.publish`` and FastStream's publishers live in
:mod:`bench.subjects.kafka_publish`; the batch candidates (``bus.publish_many``,
``KafkaTransport.publish_records``) and the asyncio floor are defined here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bench.framework import Benchmark, Config, Run


def _bounds(config: Config) -> Config:
    # The same n for both candidates: how many records are in flight together changes the
    # per-record cost (batching, acks), so calibrating each separately would compare
    # different batch sizes.
    if config.is_quick:
        return dataclasses.replace(
            config, rounds=min(config.rounds, 3), ops=config.ops or 500, warmup_seconds=0
        )
    return dataclasses.replace(
        config, rounds=min(config.rounds, 10), ops=config.ops or 20_000, warmup_seconds=0.5
    )


@asynccontextmanager
async def publish_records_pre_encoded() -> AsyncIterator[Run]:
    """One ``KafkaTransport.publish_records`` of n copies of one pre-encoded record."""
    from bench.subjects.kafka_publish import started_service
    from bench.subjects.kafka_support import cashier_created
    from momentum.contracts.partitioning import partition_key
    from momentum.runtime.ports import Destination

    async with started_service() as service:
        runtime = service.runtime
        transport = runtime.transport
        event = cashier_created()
        destination = Destination(runtime.topic_of(type(event)), partition_key(event))
        record = transport.encode(service.bus.envelope_for(event), destination)

        async def run(n: int) -> None:
            outcomes = await transport.publish_records([record] * n)
            if any(outcome is not None for outcome in outcomes):
                raise RuntimeError(f"publish_records: {next(o for o in outcomes if o)}")

        yield run


@asynccontextmanager
async def publish_many() -> AsyncIterator[Run]:
    """One ``await service.bus.publish_many(events)`` of n events."""
    from bench.subjects.kafka_publish import started_service
    from bench.subjects.kafka_support import cashier_created

    async with started_service() as service:
        bus = service.bus
        event = cashier_created()

        async def run(n: int) -> None:
            await bus.publish_many([event] * n)

        yield run


@asynccontextmanager
async def asyncio_floor() -> AsyncIterator[Run]:
    """n gathered tasks that each await a future, all resolved together: no Kafka at all."""
    import asyncio

    loop = asyncio.get_running_loop()
    pending: list[asyncio.Future[None]] = []
    waiting = asyncio.Event()
    expected = 0

    async def one() -> None:
        future = loop.create_future()
        pending.append(future)
        if len(pending) == expected:
            waiting.set()
        await future

    async def run(n: int) -> None:
        nonlocal expected
        expected = n
        waiting.clear()
        gathered = asyncio.gather(*[one() for _ in range(n)])
        await waiting.wait()  # every task started and awaiting its future
        for future in pending:
            future.set_result(None)
        pending.clear()
        await gathered

    yield run


BENCHMARK = Benchmark(
    name="kafka-publish",
    title="n integration events published to a real Kafka broker, all acknowledged",
    baseline="confluent-kafka produce + flush",
    target=(
        "momentum publishing throughput at least 0.5x raw confluent-kafka `produce` of the "
        "same pre-encoded record with the same producer settings (ratio of ns/record <= 2)"
    ),
    adjust=_bounds,
    show_rate=True,
)

_S = "bench.subjects.kafka_publish"
_C = "bench.cases.kafka_publish"

BENCHMARK.add(
    "confluent-kafka produce + flush",
    f"{_S}:raw_produce",
    note="n `Producer.produce(topic, value, key, headers=...)` of one record momentum encoded "
    "beforehand (CloudEvents binary, ~0.2 kB, 9 headers), then `flush()`, on a worker thread; "
    "momentum's producer properties (enable.idempotence, acks=all, zstd, linger.ms=1). "
    "2-core machine shared with the broker.",
)
BENCHMARK.add(
    "momentum bus.publish_many",
    f"{_C}:publish_many",
    max_ratio=2.0,
    note="one `await service.bus.publish_many(events)` of n events on a started `Service` "
    "with a `KafkaTransport` (defaults, no tracker): per event a message id, the topic, "
    "partition key and tenant, the CloudEvents payload and headers (no envelope: the root "
    "bus's new messages), produced at once; one completion for all acknowledgements.",
)
BENCHMARK.add(
    "momentum publish_records (pre-encoded)",
    f"{_C}:publish_records_pre_encoded",
    max_ratio=2.0,
    note="one `await KafkaTransport.publish_records(records)` of n copies of one record "
    "`transport.encode` wrote beforehand (the outbox relay's path: rows already encoded), "
    "same record as the raw baseline; per-record outcomes checked.",
)
BENCHMARK.add(
    "momentum bus.publish (n gathered)",
    f"{_S}:momentum_publish",
    note="`asyncio.gather` of n `service.bus.publish(event)` (n concurrent publishes, a task "
    "each) on a started `Service` with a `KafkaTransport` (defaults): each publish builds the "
    "envelope, encodes the frozen dataclass to CloudEvents, produces and awaits its delivery "
    "report. No target of its own: the batch API (`publish_many`) is the throughput path; "
    "the asyncio floor below shows what the tasks alone cost.",
)
BENCHMARK.add(
    "asyncio floor: n gathered awaits",
    f"{_C}:asyncio_floor",
    note="not a publisher: `asyncio.gather` of n coroutines that each create a future and "
    "await it, all resolved together on the loop; what n concurrently awaited single "
    "publishes cost in tasks, futures and wake-ups alone, before any encoding or Kafka.",
)
BENCHMARK.add(
    "FastStream publish_batch (confluent)",
    f"{_S}:faststream_publish_batch",
    note="FastStream 0.7 `KafkaBroker` on confluent-kafka (`faststream.confluent`) with the "
    "same producer settings: `await broker.publish_batch(*events, topic=...)` of the same "
    "dataclass event (FastStream's JSON, a content-type header, no CloudEvents, no keys); "
    "it starts a task per record and awaits each delivery.",
)
BENCHMARK.add(
    "FastStream publish (n gathered)",
    f"{_S}:faststream_publish",
    note="as above, `asyncio.gather` of n `broker.publish(event, topic=..., key=tenant)`.",
)
