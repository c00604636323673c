"""Two consumer processes in one group; one is killed with SIGKILL mid-stream."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka_support import wait_for
from momentum_kafka_events import OrderPlaced

from momentum import Service
from momentum.kafka import KafkaConfig, KafkaTransport

pytestmark = pytest.mark.kafka

HERE = Path(__file__).parent
CUSTOMERS = ("ada", "bob", "cyd", "dee", "eve", "fay")
PER_CUSTOMER = 200

Line = tuple[str, int, int, int, int]  # customer, seq, partition, offset, pid


def read(out: Path) -> list[Line]:
    if not out.exists():
        return []
    lines = []
    for raw in out.read_text().splitlines():
        customer, seq, partition, offset, pid = raw.split()
        lines.append((customer, int(seq), int(partition), int(offset), int(pid)))
    return lines


@pytest.fixture
def spawn(kafka_bootstrap: str) -> Iterator[Callable[[str, Path], subprocess.Popen[bytes]]]:
    """Starts `consumer_process.py` for an environment and output file; kills leftovers."""
    started: list[subprocess.Popen[bytes]] = []
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])

    def start(environment: str, out: Path) -> subprocess.Popen[bytes]:
        script = str(HERE / "consumer_process.py")
        process = subprocess.Popen(
            [sys.executable, script, kafka_bootstrap, environment, str(out)],
            env={**os.environ, "PYTHONPATH": path},
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


async def test_a_killed_member_loses_nothing_and_only_its_uncommitted_records_repeat(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    kafka_bootstrap: str,
    tmp_path: Path,
    spawn: Callable[[str, Path], subprocess.Popen[bytes]],
) -> None:
    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    async with shop:
        for seq in range(PER_CUSTOMER):
            await asyncio.gather(*(shop.bus.publish(OrderPlaced(c, seq)) for c in CUSTOMERS))

    out = tmp_path / "handled.txt"
    victim, survivor = spawn(environment, out), spawn(environment, out)

    def pids() -> set[int]:
        return {line[4] for line in read(out)}

    await wait_for(lambda: pids() == {victim.pid, survivor.pid}, "both members handling", 60)
    victim.send_signal(signal.SIGKILL)
    await asyncio.to_thread(victim.wait, 30)
    killed_at = len(read(out))
    assert killed_at < len(CUSTOMERS) * PER_CUSTOMER, "the stream ended before the kill"

    everything = {(c, s) for c in CUSTOMERS for s in range(PER_CUSTOMER)}
    await wait_for(
        lambda: {(c, s) for c, s, *_ in read(out)} >= everything, "the survivor to finish", 90
    )
    survivor.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(survivor.wait, 60) == 0

    lines = read(out)
    by_victim = [(c, s) for c, s, _, _, pid in lines if pid == victim.pid]
    by_survivor = [(c, s) for c, s, _, _, pid in lines if pid == survivor.pid]
    assert set(by_victim) | set(by_survivor) == everything  # nothing lost
    assert len(by_survivor) == len(set(by_survivor))  # the survivor never repeats itself
    repeated = set(by_victim) & set(by_survivor)
    assert len(by_victim) == len(set(by_victim))
    # only records the victim handled but had not committed come again; they are the tail
    # of what it handled, at most a few commit intervals' worth per key
    for customer in CUSTOMERS:
        victim_seqs = [s for c, s in by_victim if c == customer]
        survivor_seqs = [s for c, s in by_survivor if c == customer]
        assert survivor_seqs == sorted(survivor_seqs), customer  # per-key order
        again = sorted(s for c, s in repeated if c == customer)
        if again:
            assert again == victim_seqs[-len(again) :], customer
    print(f"handled {len(lines)}: victim {len(by_victim)}, repeated {len(repeated)}")
