"""Consuming and handling records of a pre-filled topic on a real Kafka broker."""

from __future__ import annotations

import dataclasses

from bench.framework import Benchmark, Config


def _bounds(config: Config) -> Config:
    # Every op consumes a real record: fixed ops (no calibration) and a single warm-up run,
    # so the pre-filled topics are sized exactly (see bench/subjects/kafka_consume.py).
    if config.is_quick:
        return dataclasses.replace(
            config, rounds=min(config.rounds, 3), ops=config.ops or 1_000, warmup_seconds=0
        )
    return dataclasses.replace(
        config, rounds=min(config.rounds, 5), ops=config.ops or 100_000, warmup_seconds=0
    )


BENCHMARK = Benchmark(
    name="kafka-consume",
    title="records of a pre-filled 3-partition topic consumed and handled, offsets committed",
    baseline="confluent-kafka consume loop",
    target="momentum consume + handle (trivial handler, commits on) at least 50k records/s "
    "per process (at most 20 µs per record)",
    adjust=_bounds,
    show_rate=True,
)

_S = "bench.subjects.kafka_consume"

BENCHMARK.add(
    "confluent-kafka consume loop",
    f"{_S}:raw_consume",
    note="`Consumer.consume(500, 0.1)` batches on a worker thread, `message.error()` and "
    "`message.value()` per record, `commit(asynchronous=True)` per batch; no decoding. "
    "2-core machine shared with the broker.",
)
BENCHMARK.add(
    "momentum consume (default middleware)",
    f"{_S}:momentum_consume",
    max_ns=20_000,
    note="a started `Service` over `KafkaTransport` (defaults: one lane per partition, "
    "commits every 0.5 s; no message store, `memory://`: the durable inbox is measured in "
    "the durable-inbox row) with one handler `async def handle(event: CashierCreated)`; "
    "records are decoded from CloudEvents into the frozen dataclass. Up to ~16k of a round's "
    "100k records were already fetched and decoded (buffered) when it began.",
)
BENCHMARK.add(
    "momentum consume (no middleware)",
    f"{_S}:momentum_consume_no_middleware",
    max_ns=20_000,
    note='as above with `middleware={"enabled": False}`.',
)
BENCHMARK.add(
    "FastStream KafkaBroker subscriber",
    f"{_S}:faststream_consume",
    note="FastStream 0.7 `KafkaBroker` (aiokafka) `@broker.subscriber(topic, group_id=...)` "
    "with `async def handle(body: dict)` (JSON decoded); default ack policy ACK_FIRST "
    "(aiokafka auto-commit every 5 s); `logger=None`; 60 s session (its heartbeats share the "
    "busy event loop). Records aiokafka prefetched between "
    "rounds are not accounted for (its rate is, if anything, flattered).",
)
