"""Scale-out: 1, 2 and 4 consumer processes of one group, 8 partitions (issue #9, row 7)."""

from __future__ import annotations

import dataclasses

from bench.framework import Benchmark, Config


def _bounds(config: Config) -> Config:
    # Every op consumes a real record: fixed ops (no calibration), one warm-up run, so the
    # shared pre-filled topic is sized exactly (see bench/subjects/kafka_scale.py). Rounds
    # are long next to the 40k records a group buffers ahead of its handlers.
    if config.is_quick:
        return dataclasses.replace(
            config, rounds=min(config.rounds, 2), ops=config.ops or 4_000, warmup_seconds=0
        )
    return dataclasses.replace(
        config, rounds=min(config.rounds, 3), ops=config.ops or 200_000, warmup_seconds=0
    )


BENCHMARK = Benchmark(
    name="kafka-scale",
    title="records of a pre-filled 8-partition topic handled by 1, 2 or 4 processes of one "
    "consumer group (aggregate rate)",
    baseline="1 process",
    target="aggregate rate grows with processes while cores are free (here only 2 cores, "
    "shared with the broker: no speedup is expected past 2 processes)",
    adjust=_bounds,
    show_rate=True,
)

_S = "bench.subjects.kafka_scale"
_COMMON = (
    "processes started with `multiprocessing` (spawn), each a started `Service` "
    '(`KafkaTransport` defaults, `database_url="memory://"`, default middleware) with one '
    "trivial handler `async def handle(event: CashierCreated)`; all in one consumer group, "
    "stable with every partition assigned before the first round. A round: the parent "
    "releases n permits on a shared semaphore (a handler takes one per record) and waits "
    "until the processes together handled n records. "
)

BENCHMARK.add(
    "1 process",
    f"{_S}:one_process",
    note=_COMMON + "One process holds all 8 partitions. Machine: 2 cores, shared with the "
    "Kafka broker and the parent process, so scaling past ~2 busy processes is not possible "
    "here; a process decodes on its consumer thread and handles on its event loop, so even "
    "one process can keep more than one core busy.",
)
BENCHMARK.add(
    "2 processes",
    f"{_S}:two_processes",
    note="as above, 2 processes of 4 partitions each.",
)
BENCHMARK.add(
    "4 processes",
    f"{_S}:four_processes",
    note="as above, 4 processes of 2 partitions each (more processes than cores).",
)
