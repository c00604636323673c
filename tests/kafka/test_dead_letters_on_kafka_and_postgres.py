"""A message that always fails: in the store's dead-letter table and on `<topic>.dlq`, with
every header; replayed after the handler is fixed, it is handled (real Kafka, PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest
from confluent_kafka import Consumer
from momentum_kafka_events import OrderPlaced

from momentum import Service
from momentum.kafka import KafkaConfig, KafkaTransport
from momentum.postgres import PostgresStore
from momentum.runtime.policies import ErrorRule
from momentum.runtime.store import DeadLetterFilter
from momentum.testing import tracked

pytestmark = pytest.mark.kafka


class CardDeclined(Exception):
    pass


@pytest.fixture
async def schema(database_url: str, unique_name: str) -> AsyncIterator[str]:
    name = unique_name.replace("-", "_")[:50]
    yield name
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


async def test_a_failing_message_is_in_the_table_and_the_topic_and_replays_after_a_fix(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    kafka_bootstrap: str,
    database_url: str,
    schema: str,
) -> None:
    healthy = False
    paid: list[int] = []
    placed: list[int] = []

    async def charge(event: OrderPlaced) -> None:
        if not healthy:
            raise CardDeclined(f"card of {event.customer} declined")
        paid.append(event.seq)

    async def note(event: OrderPlaced) -> None:
        placed.append(event.seq)

    audited: list[int] = []

    async def audit(event: OrderPlaced) -> None:  # another consumer group of the topic
        audited.append(event.seq)

    shop = Service(
        "shop",
        "Shop",
        transport=KafkaTransport(make_config()),
        environment=environment,
        database_url="memory://",
    )
    billing = Service(
        "billing",
        "Billing",
        transport=KafkaTransport(make_config()),
        store=PostgresStore(database_url, schema=schema),
        environment=environment,
    )
    auditing = Service(
        "auditing",
        "Audit",
        transport=KafkaTransport(make_config()),
        environment=environment,
        database_url="memory://",
    )
    auditing.add_handler(audit)
    billing.add_handler(charge)
    billing.add_handler(note)
    billing.on_error(ErrorRule.on(CardDeclined).retry(1).dead_letter())
    topic = f"{environment}.kafkatests.public.orders.v1"
    async with shop, billing, auditing:
        async with tracked(shop, billing, auditing, timeout=60):
            await shop.bus.publish(OrderPlaced("ada", 7))
        assert billing.store is not None
        (letter,) = await billing.store.dead_letters()
        assert letter.handler is not None and letter.handler.endswith("charge")
        assert letter.exception_type.endswith("CardDeclined")
        assert letter.exception_message == "card of ada declined"
        assert "Traceback" in letter.stack
        assert letter.attempts == 2
        assert letter.origin_topic == topic and letter.origin_offset == 0
        assert letter.origin_partition is not None
        assert letter.first_failure_at <= letter.last_failure_at
        assert placed == [7] and paid == []

        healthy = True
        async with tracked(shop, billing, auditing, timeout=60) as replay:
            outcome = await billing.replay_stored_dead_letters(DeadLetterFilter())
        assert outcome.republished == 1
        assert await billing.store.dead_letters() == []
        assert paid == [7] and placed == [7]  # note() finished before: the inbox skipped it
        assert len(replay.duplicates) == 1
        assert audited == [7]  # the replay carried billing's group: other groups skipped it

    reader = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"{environment}-dlq-reader",
            "auto.offset.reset": "earliest",
        }
    )
    reader.subscribe([f"{topic}.dlq"])
    try:
        record = None
        deadline = time.monotonic() + 30
        while record is None and time.monotonic() < deadline:
            polled = reader.poll(0.5)
            if polled is not None and polled.error() is None:
                record = polled
    finally:
        reader.close()
    assert record is not None, "nothing on the dead-letter topic"
    headers = {k: v.decode() for k, v in record.headers() or []}
    assert headers["momentum-dlq-exception-type"].endswith("CardDeclined")
    assert headers["momentum-dlq-exception-message"] == "card of ada declined"
    assert headers["momentum-dlq-attempts"] == "2"
    assert headers["momentum-dlq-handler"].endswith("charge")
    assert headers["momentum-dlq-original-topic"] == topic
    assert headers["momentum-dlq-original-offset"] == "0"
    assert "Traceback" in headers["momentum-dlq-stack"]
