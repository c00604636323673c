"""Publishing integration events to a real Kafka broker, every record acknowledged."""

from __future__ import annotations

import dataclasses

from bench.framework import Benchmark, Config


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


BENCHMARK = Benchmark(
    name="kafka-publish",
    title="n integration events published to a real Kafka broker, all acknowledged",
    baseline="confluent-kafka produce + flush",
    target=(
        "momentum `bus.publish` throughput at least 0.5x raw confluent-kafka `produce` of the "
        "same pre-encoded record with the same producer settings (ratio of ns/record <= 2)"
    ),
    adjust=_bounds,
    show_rate=True,
)

_S = "bench.subjects.kafka_publish"

BENCHMARK.add(
    "confluent-kafka produce + flush",
    f"{_S}:raw_produce",
    note="n `Producer.produce(topic, value, key, headers=...)` of one record momentum encoded "
    "beforehand (CloudEvents binary, ~0.2 kB, 9 headers), then `flush()`, on a worker thread; "
    "momentum's producer properties (enable.idempotence, acks=all, zstd, linger.ms=1). "
    "2-core machine shared with the broker.",
)
BENCHMARK.add(
    "momentum bus.publish",
    f"{_S}:momentum_publish",
    max_ratio=2.0,
    note="`asyncio.gather` of n `service.bus.publish(event)` on a started `Service` with a "
    "`KafkaTransport` (defaults): each publish builds the envelope, encodes the frozen "
    "dataclass to CloudEvents, produces and awaits its delivery report.",
)
