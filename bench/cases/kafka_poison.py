"""Poison records beside good ones through the same kind of consumer on a real broker."""

from __future__ import annotations

import dataclasses

from bench.framework import Benchmark, Config


def _bounds(config: Config) -> Config:
    # Every op produces and consumes a real record: fixed ops, no timed warm-up.
    if config.is_quick:
        return dataclasses.replace(
            config, rounds=min(config.rounds, 3), ops=config.ops or 500, warmup_seconds=0
        )
    return dataclasses.replace(
        config, rounds=min(config.rounds, 5), ops=config.ops or 20_000, warmup_seconds=0
    )


BENCHMARK = Benchmark(
    name="kafka-poison",
    title="n records produced, then handled (good) or dead-lettered (poison) by a consumer",
    baseline="good records, handled",
    target="a flood of poison is kept at about the rate of good records (at most 2x their time)",
    adjust=_bounds,
    show_rate=True,
)

_S = "bench.subjects.kafka_poison"

BENCHMARK.add(
    "good records, handled",
    f"{_S}:good_records",
    note="a started `Service` over `KafkaTransport` (no store, `memory://`) with one trivial "
    "handler of `CashierCreated`; `run(n)` produces n pre-encoded records with a raw producer "
    "(24 keys over 3 partitions) and waits until the handler saw all n. Producing is in "
    "every row's time.",
)
BENCHMARK.add(
    "poison records, kept on .dlq",
    f"{_S}:poison_records",
    max_ratio=2.0,
    note="the same record with a value that is not JSON: each is rejected on the consumer "
    "thread and kept by the poison keeper (copies to `<topic>.dlq` produced in batches, "
    "one flush per batch) before its offset counts as done; `run(n)` waits until "
    "`KafkaTransport.poison_kept` counts all n. Before batching each record had its own "
    "produce + flush (and store transaction) on the consumer thread: measured with the same "
    "producer loop, ~2.4k records/s without a store, ~700/s with SQLite, ~330/s with "
    "PostgreSQL.",
)
BENCHMARK.add(
    "poison records, .dlq + SQLite store",
    f"{_S}:poison_records_sqlite",
    note="as above, and each batch written to the store's dead letters in one transaction "
    "(a SQLite file) before its offsets count as done.",
)
BENCHMARK.add(
    "poison records, .dlq + PostgreSQL store",
    f"{_S}:poison_records_postgres",
    note="as above on PostgreSQL (a schema of its own).",
)
