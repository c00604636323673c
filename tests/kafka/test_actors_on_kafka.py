"""Actors on Kafka and PostgreSQL: two processes in one group, one killed and restarted.

10,000 payment events over 200 invoices (50 each, keyed by invoice) on 6 partitions, handled
by the `PaymentLedger` actor in two processes of one consumer group. One is killed with
SIGKILL mid-stream and started again. Every invoice's stored state must count each of its
events exactly once, in order, and the durable reminder one of its payments set (due 4 s
later) fires exactly once, also when the killed process set it just before it died.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka_support import wait_for
from momentum_kafka_actors import (
    Ledger,
    PaymentLedger,
    PaymentReceived,
    PaymentTally,
    amount,
    reminder_seq,
)

from momentum import Service
from momentum.kafka import KafkaConfig, KafkaTransport, TopicProvisioning
from momentum.postgres import PostgresStore

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

HERE = Path(__file__).parent
INVOICES = 200
PAYMENTS = 50

Spawn = Callable[[], subprocess.Popen[bytes]]


def handled(out: Path) -> list[tuple[int, str, int]]:
    if not out.exists():
        return []
    lines = []
    for raw in out.read_text().splitlines():
        first, second, third = raw.split()
        if first != "refusals":
            lines.append((int(first), second, int(third)))
    return lines


def refusals(out: Path) -> dict[int, int]:
    found = {}
    for raw in out.read_text().splitlines():
        if raw.startswith("refusals "):
            _, pid, count = raw.split()
            found[int(pid)] = int(count)
    return found


@pytest.fixture
def spawn(
    kafka_bootstrap: str, database_url: str, environment: str, unique_name: str, tmp_path: Path
) -> Iterator[Spawn]:
    """Starts `actor_process.py` on the test's environment and schema; kills leftovers."""
    started: list[subprocess.Popen[bytes]] = []
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    out = tmp_path / "handled.txt"

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "actor_process.py"),
                kafka_bootstrap,
                environment,
                database_url,
                unique_name,
                str(out),
            ],
            env={**os.environ, "PYTHONPATH": path},
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


async def stored_ledgers(store: PostgresStore) -> dict[str, Ledger]:
    keys = [f"inv-{n:03d}" for n in range(INVOICES)]
    rows = await store.load_actor_states(PaymentLedger.actor_type, keys)
    return {key: Ledger(**json.loads(row.state)) for key, row in rows.items()}


async def test_every_invoice_counts_each_payment_once_across_a_killed_and_restarted_member(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    database_url: str,
    unique_name: str,
    tmp_path: Path,
    spawn: Spawn,
) -> None:
    bank = Service(
        "bank",
        "KafkaTests",
        transport=KafkaTransport(
            make_config(provisioning=TopicProvisioning(enabled=True, partitions=6))
        ),
        environment=environment,
        database_url="memory://",
    )
    async with bank:
        await bank.bus.publish_many(
            PaymentReceived(f"inv-{n:03d}", seq, amount(n, seq))
            for seq in range(1, PAYMENTS + 1)
            for n in range(INVOICES)
        )
    out = tmp_path / "handled.txt"
    store = PostgresStore(database_url, schema=unique_name)
    victim, survivor = spawn(), spawn()
    try:
        await wait_for(
            lambda: {pid for pid, _, _ in handled(out)} == {victim.pid, survivor.pid},
            "both members handling",
            60,
        )

        def reminders_set_by_victim() -> bool:
            mine = [(i, s) for pid, i, s in handled(out) if pid == victim.pid]
            first = next((n for n, (i, s) in enumerate(mine) if s == reminder_seq(i)), None)
            # ten of its reminders set, and a hundred payments later (their saves committed)
            setting = sum(1 for i, s in mine if s == reminder_seq(i))
            return first is not None and setting >= 10 and len(mine) - first >= 100

        await wait_for(reminders_set_by_victim, "the member to set reminders", 60)
        victim.send_signal(signal.SIGKILL)
        await asyncio.to_thread(victim.wait, 30)
        killed_at = len(handled(out))
        assert killed_at < INVOICES * PAYMENTS, "the stream ended before the kill"
        restarted = spawn()
        await store.open()

        async def everything_counted() -> bool:
            ledgers = await stored_ledgers(store)
            return len(ledgers) == INVOICES and all(
                ledger.count >= PAYMENTS and ledger.fired >= 1 for ledger in ledgers.values()
            )

        async with asyncio.timeout(90):
            while not await everything_counted():  # noqa: ASYNC110
                await asyncio.sleep(0.2)  # polling the other processes. commits
        for process in (survivor, restarted):
            process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(survivor.wait, 60) == 0
        assert await asyncio.to_thread(restarted.wait, 60) == 0

        ledgers = await stored_ledgers(store)
    finally:
        await store.close()
    for n in range(INVOICES):
        ledger = ledgers[f"inv-{n:03d}"]
        expected = sum(amount(n, seq) for seq in range(1, PAYMENTS + 1))
        assert (ledger.count, ledger.total, ledger.last_seq) == (PAYMENTS, expected, PAYMENTS)
        assert ledger.out_of_order == 0, f"inv-{n:03d} saw its payments out of order"
        assert ledger.fired == 1, f"inv-{n:03d}: its reminder fired {ledger.fired} times"
    set_by_victim = [ledger for ledger in ledgers.values() if ledger.reminder_set_by == victim.pid]
    assert set_by_victim, "the killed member set no reminder before it died"
    assert all(ledger.reminder_fired_by != victim.pid for ledger in set_by_victim)
    lines = handled(out)
    by_victim = [(i, s) for pid, i, s in lines if pid == victim.pid]
    repeated = len(lines) - len(set((i, s) for _, i, s in lines))
    print(
        f"handled {len(lines)} payments ({len(by_victim)} by the killed member, {repeated} "
        f"handled again after the kill), killed after {killed_at}; refused saves per "
        f"surviving process: {refusals(out)}"
    )


async def test_a_rebalance_deactivates_the_actors_of_revoked_partitions_before_handing_over(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    database_url: str,
    unique_name: str,
) -> None:
    config = make_config(provisioning=TopicProvisioning(enabled=True, partitions=6))
    bank = Service(
        "bank",
        "KafkaTests",
        transport=KafkaTransport(config),
        environment=environment,
        database_url="memory://",
    )

    def member() -> Service:
        service = Service(
            "tally",
            "KafkaTests",
            transport=KafkaTransport(make_config()),
            store=PostgresStore(database_url, schema=unique_name, poll_interval=0.5),
            environment=environment,
        )
        service.add_actor(PaymentTally)
        return service

    keys = [f"inv-{n:03d}" for n in range(24)]
    reader = PostgresStore(database_url, schema=unique_name)
    first, second = member(), member()

    async def counts(expected: int) -> bool:
        rows = await reader.load_actor_states(PaymentTally.actor_type, keys)
        return len(rows) == len(keys) and all(
            json.loads(row.state)["count"] == expected for row in rows.values()
        )

    async with bank, first:
        await bank.bus.publish_many(PaymentReceived(k, s, 1) for s in (1, 2) for k in keys)
        await reader.open()
        try:
            async with asyncio.timeout(60):
                while not await counts(2):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)  # polling the store
            assert first.actors.active == len(keys)
            assert isinstance(first.transport, KafkaTransport)
            before = len(first.transport.assignment)
            async with second:
                assert isinstance(second.transport, KafkaTransport)
                await wait_for(lambda: second.transport.assignment != [], "the rebalance", 60)
                assert len(first.transport.assignment) < before
                await bank.bus.publish_many(PaymentReceived(k, s, 1) for s in (3, 4) for k in keys)
                async with asyncio.timeout(60):
                    while not await counts(4):  # noqa: ASYNC110
                        await asyncio.sleep(0.1)  # polling the store
                moved = second.actors.active
                assert 0 < moved < len(keys)
                assert first.actors.active == len(keys) - moved
                rows = await reader.load_actor_states(PaymentTally.actor_type, keys)
                for key in keys:
                    current = (
                        await (second if json.loads(rows[key].state)["deactivations"] else first)
                        .actors.get(PaymentTally, key)
                        .state()
                    )
                    assert current.count == 4
                deactivated = [k for k in keys if json.loads(rows[k].state)["deactivations"]]
                # each moved invoice was deactivated by the first member (its state saved)
                # before the second loaded it: the second's copy counts that deactivation
                assert len(deactivated) == moved
                for service in (first, second):
                    assert service.runtime.actors is not None
                    assert service.runtime.actors.saves.refusals == 0
        finally:
            await reader.close()
