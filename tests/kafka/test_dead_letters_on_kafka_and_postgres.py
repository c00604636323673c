"""A message that always fails: in the store's dead-letter table and on `<topic>.dlq`, with
every header; replayed after the handler is fixed, it is handled (real Kafka, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import psycopg
import pytest
from kafka_support import read_records
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

    (record,) = read_records(kafka_bootstrap, f"{topic}.dlq", 1)
    headers = {k: v.decode() for k, v in record.headers() or []}
    assert headers["momentum-dlq-exception-type"].endswith("CardDeclined")
    assert headers["momentum-dlq-exception-message"] == "card of ada declined"
    assert headers["momentum-dlq-attempts"] == "2"
    assert headers["momentum-dlq-handler"].endswith("charge")
    assert headers["momentum-dlq-original-topic"] == topic
    assert headers["momentum-dlq-original-offset"] == "0"
    assert "Traceback" in headers["momentum-dlq-stack"]


async def test_poison_records_are_also_kept_in_the_store_with_their_reason(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    kafka_bootstrap: str,
    database_url: str,
    schema: str,
) -> None:
    from confluent_kafka import Producer

    from momentum.contracts.message_types import message_type_name

    got: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        got.append(event.seq)

    billing = Service(
        "billing",
        "Billing",
        transport=KafkaTransport(make_config()),
        store=PostgresStore(database_url, schema=schema),
        environment=environment,
    )
    billing.add_handler(placed)
    topic = f"{environment}.kafkatests.public.orders.v1"
    ce = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"poison-1"),
        ("ce_type", message_type_name(OrderPlaced).encode()),
        ("ce_source", b"/test/raw"),
        ("content-type", b"application/json"),
    ]
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    async with billing:
        async with tracked(billing, timeout=60):
            producer.produce(topic, b"{not json", b"ada", headers=ce)
            producer.produce(topic, b"{}", b"ada", headers=[])
            good = [*ce[:1], ("ce_id", b"00000000-0000-4000-8000-000000000001"), *ce[2:]]
            producer.produce(topic, b'{"customer": "ada", "seq": 5}', b"ada", headers=good)
            assert producer.flush(30) == 0
        assert billing.store is not None
        letters = await billing.store.dead_letters()
    assert got == [5]
    assert [(x.origin_offset, x.exception_message.split("]")[0]) for x in letters] == [
        (0, "[invalid-json"),
        (1, "[invalid-cloudevent"),
    ]
    first = letters[0]
    assert first.record.body == b"{not json" and first.record.key == "ada"
    assert first.record.message_id == "poison-1"
    assert first.origin_topic == topic and first.handler is None
    assert first.message_type == message_type_name(OrderPlaced)
