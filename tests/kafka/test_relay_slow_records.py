"""The outbox relay on real Kafka and PostgreSQL when one record of a batch is slow or fails.

No provisioning and a broker without topic auto-creation (the defaults): a record to a topic
that does not exist waits in librdkafka for the topic's metadata
(``topic.metadata.propagation.max.ms``) and then fails. The rows Kafka acknowledged meanwhile
must be marked sent at once and published once, whatever the slow row costs; the slow row
fails alone, backs off and ends as a dead letter after its attempts; a relay killed while it
holds such a row loses nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka_support import read_records, records_in, wait_for
from momentum_kafka_events import AuditNoted, OrderPlaced

from momentum import Service
from momentum.contracts.topics import topic_name
from momentum.kafka import KafkaConfig, KafkaTransport, TopicProvisioning
from momentum.kafka.provisioning import provision_topics
from momentum.postgres import PostgresStore
from momentum.settings import MomentumSettings, StoreSettings

HERE = Path(__file__).parent
PROPAGATION_MS = 3000
"""How long librdkafka waits for a missing topic's metadata before failing its records."""


@pytest.fixture
async def schema(database_url: str, unique_name: str) -> AsyncIterator[str]:
    yield unique_name
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{unique_name}" CASCADE')


def unprovisioned(make_config: Callable[..., KafkaConfig]) -> KafkaConfig:
    return make_config(
        provisioning=TopicProvisioning(enabled=False, partitions=3),
        producer={"topic.metadata.propagation.max.ms": PROPAGATION_MS},
    )


async def outbox_rows(database_url: str, schema: str) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute(
            f'SELECT destination, sent_at IS NOT NULL, attempts, owner FROM "{schema}".outbox'
            " ORDER BY id"
        )
        return await cursor.fetchall()


async def test_a_missing_topic_holds_no_other_row_back_and_nothing_is_published_twice(
    kafka_bootstrap: str,
    database_url: str,
    environment: str,
    make_config: Callable[..., KafkaConfig],
    schema: str,
) -> None:
    orders = topic_name(OrderPlaced, environment)
    audits = topic_name(AuditNoted, environment)  # never created
    config = unprovisioned(make_config)
    await provision_topics(config, [orders])
    settings = MomentumSettings(
        environment=environment,
        # the claim's transaction may stay idle 1 s: far less than the missing topic costs
        store=StoreSettings(lease_seconds=1.0, max_relay_attempts=2, poll_seconds=0.2),
    )
    shop = Service(
        "shop",
        "KafkaTests",
        transport=KafkaTransport(config),
        store=PostgresStore(database_url, schema=schema),
        settings=settings,
    )
    async with shop:
        store = shop.runtime.store
        assert store is not None
        async with shop.bus.transaction():
            await shop.bus.publish(AuditNoted("to a topic that does not exist"))
            for seq in range(5):
                await shop.bus.publish(OrderPlaced(f"c{seq}", seq))

        async def sent() -> int:
            return sum(1 for row in await outbox_rows(database_url, schema) if row[1])

        deadline = asyncio.get_running_loop().time() + 30
        while await sent() < 5:
            assert asyncio.get_running_loop().time() < deadline, "the five rows were not sent"
            await asyncio.sleep(0.02)  # poll interval, not a wait for an outcome
        slow = [row for row in await outbox_rows(database_url, schema) if row[0] == audits]
        # the five were committed as sent before the missing topic's record even failed
        assert [(row[1], row[2]) for row in slow] == [(False, 0)]
        assert slow[0][3] is not None  # leased to the relay while in flight

        async def buried() -> bool:
            return len(await store.dead_letters()) == 1

        deadline = asyncio.get_running_loop().time() + 60
        while not await buried():
            assert asyncio.get_running_loop().time() < deadline, "no dead letter"
            await asyncio.sleep(0.05)  # poll interval, not a wait for an outcome
        await shop.runtime.wait_idle()
        (letter,) = await store.dead_letters()
        assert letter.record.destination == audits
        assert letter.attempts == 2
        assert letter.handler is None
        assert audits in letter.exception_message
        assert "UNKNOWN_TOPIC" in letter.exception_message
        rows = await outbox_rows(database_url, schema)
        assert all(row[1] for row in rows)  # every row settled: five sent, one buried

    records = await asyncio.to_thread(read_records, kafka_bootstrap, orders, 5)
    assert records_in(kafka_bootstrap, orders) == 5
    ids = {dict(record.headers())["ce_id"] for record in records}
    assert len(ids) == 5


async def test_a_relay_killed_while_a_slow_row_is_leased_loses_nothing(
    kafka_bootstrap: str,
    database_url: str,
    environment: str,
    make_config: Callable[..., KafkaConfig],
    schema: str,
) -> None:
    orders = topic_name(OrderPlaced, environment)
    audits = topic_name(AuditNoted, environment)
    config = unprovisioned(make_config)
    await provision_topics(config, [orders])
    writer = Service(
        "warehouse",
        "KafkaTests",
        transport=KafkaTransport(config),
        store=PostgresStore(database_url, schema=schema),
        environment=environment,
    )
    await writer.start(subscribe=False)
    assert writer.runtime.relay is not None
    await writer.runtime.relay.stop()  # this process only writes the outbox
    async with writer.bus.transaction():
        await writer.bus.publish(AuditNoted("slow"))
        for seq in range(5):
            await writer.bus.publish(OrderPlaced(f"c{seq}", seq))
    await writer.stop()

    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])

    def relay(mode: str) -> subprocess.Popen[bytes]:
        args = [kafka_bootstrap, environment, database_url, schema, mode]
        return subprocess.Popen(
            [sys.executable, str(HERE / "relay_process.py"), *args],
            env={**os.environ, "PYTHONPATH": path},
        )

    dying = relay("die-when-late")
    assert await asyncio.to_thread(dying.wait, 60) == -signal.SIGKILL
    rows = await outbox_rows(database_url, schema)
    assert sorted((row[0], row[1]) for row in rows) == sorted(
        [(audits, False)] + [(orders, True)] * 5
    )
    await provision_topics(config, [audits])  # the topic is created: the row can go now
    survivor = relay("normal")
    try:
        await wait_for(lambda: records_in(kafka_bootstrap, audits) == 1, "the slow row", 60)

        async def settled() -> bool:
            return all(row[1] for row in await outbox_rows(database_url, schema))

        deadline = asyncio.get_running_loop().time() + 30
        while not await settled():
            assert asyncio.get_running_loop().time() < deadline, "the slow row is not sent"
            await asyncio.sleep(0.05)  # poll interval, not a wait for an outcome
    finally:
        survivor.send_signal(signal.SIGTERM)
        await asyncio.to_thread(survivor.wait, 30)
    assert records_in(kafka_bootstrap, orders) == 5
    assert records_in(kafka_bootstrap, audits) == 1
