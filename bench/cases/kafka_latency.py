"""Transit latency publish -> handler through a real Kafka broker at a fixed rate."""

from __future__ import annotations

import dataclasses

from bench.framework import Benchmark, Config


def _bounds(config: Config) -> Config:
    # ops = records per round at 1000/s: 2 s rounds (0.2 s quick), one warm-up round.
    if config.is_quick:
        return dataclasses.replace(
            config, rounds=min(config.rounds, 2), ops=config.ops or 200, warmup_seconds=0
        )
    return dataclasses.replace(
        config, rounds=min(config.rounds, 4), ops=config.ops or 2_000, warmup_seconds=0
    )


BENCHMARK = Benchmark(
    name="kafka-latency",
    title="publish -> handler transit latency at 1000 records/s through a real broker",
    baseline="confluent-kafka produce -> poll",
    target="momentum publish -> handler at 1k records/s: p50 at most 5 ms, p99 at most 20 ms",
    latency=True,
    adjust=_bounds,
)

_S = "bench.subjects.kafka_latency"

BENCHMARK.add(
    "confluent-kafka produce -> poll",
    f"{_S}:raw_round_trip",
    note="`produce` (momentum's producer properties: idempotent, acks=all, zstd, "
    "linger.ms=1) of a 208-byte value carrying `perf_counter_ns`; a thread blocking in "
    "`Consumer.poll(0.05)` takes the latency on arrival and commits asynchronously. "
    "2-core machine shared with the broker.",
)
BENCHMARK.add(
    "momentum publish -> handler",
    f"{_S}:momentum_round_trip",
    max_ns=5_000_000,
    max_p99_ns=20_000_000,
    note="one `Service` (defaults, `KafkaTransport`) publishing `Ping(tenant, sent_ns)` with "
    "`bus.publish` (a task per tick) and handling it from Kafka; latency from the publish "
    "call to the handler's first line.",
)
