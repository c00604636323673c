"""Dead letters keep the record as it was read, byte for byte, in the store and on `.dlq`,
and replay as they were read (real Kafka, PostgreSQL)."""

from __future__ import annotations

import base64
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import psycopg
import pytest
from confluent_kafka import Producer
from kafka_support import read_records
from momentum_kafka_events import OrderPlaced

from momentum import Envelope, Service
from momentum.contracts.message_types import message_type_name
from momentum.kafka import KafkaConfig, KafkaTransport
from momentum.postgres import PostgresStore
from momentum.runtime.policies import ErrorRule
from momentum.testing import tracked

pytestmark = pytest.mark.kafka

DLQ_PREFIX = "momentum-dlq-"


class CardDeclined(Exception):
    pass


@pytest.fixture
async def schema(database_url: str, unique_name: str) -> AsyncIterator[str]:
    yield unique_name
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{unique_name}" CASCADE')


def _split(headers: list[tuple[str, bytes]]) -> tuple[list[tuple[str, bytes]], dict[str, bytes]]:
    """The original headers, and the `momentum-dlq-*` ones after them."""
    original = [(k, v) for k, v in headers if not k.startswith(DLQ_PREFIX)]
    extra = {k: v for k, v in headers if k.startswith(DLQ_PREFIX)}
    assert headers == original + list(extra.items()), "dead-letter headers come last"
    return original, extra


async def test_a_foreign_record_failing_in_a_handler_is_kept_as_read_and_replays(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    kafka_bootstrap: str,
    database_url: str,
    schema: str,
) -> None:
    healthy = False
    paid: list[tuple[int, str | None, float]] = []

    async def charge(event: OrderPlaced, envelope: Envelope) -> None:
        if not healthy:
            raise CardDeclined(f"card of {event.customer} declined")
        paid.append((event.seq, envelope.tenant_id, envelope.created))

    billing = Service(
        "billing",
        "Billing",
        transport=KafkaTransport(make_config()),
        store=PostgresStore(database_url, schema=schema),
        environment=environment,
    )
    billing.add_handler(charge)
    billing.on_error(ErrorRule.on(CardDeclined).dead_letter())
    topic = f"{environment}.kafkatests.public.orders.v1"
    # what a .NET service writes: PascalCase, a local offset, a charset, its own extension
    value = b'{"Customer":"ada","Seq":7}'
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"b6f0a1d2-8c3e-4f5a-9b7c-0d1e2f3a4b5c"),
        ("ce_type", message_type_name(OrderPlaced).encode()),
        ("ce_source", b"/dotnet/shop"),
        ("ce_time", b"2024-05-01T13:30:15.25+01:00"),
        ("content-type", b"application/json; charset=utf-8"),
        ("ce_tenantid", b"t-1"),
        ("ce_dotnetextension", b"x"),
        ("x-trace", b"\x00\xff raw"),
    ]
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    async with billing:
        async with tracked(billing, timeout=60):
            producer.produce(topic, value, b"ada", headers=headers)
            assert producer.flush(30) == 0
        assert billing.store is not None
        (letter,) = await billing.store.dead_letters()
        # the store keeps it as read (it was re-encoded: camelCase, ...Z, application/json)
        assert letter.record.body == value
        assert letter.record.headers == headers
        assert (letter.record.key, letter.raw_key) == ("ada", b"ada")
        assert letter.exception_message == "card of ada declined"
        assert letter.record.destination == topic and letter.origin_offset == 0

        healthy = True
        async with tracked(billing, timeout=60):
            outcome = await billing.replay_stored_dead_letters()
        assert (outcome.republished, outcome.left) == (1, 0)
        assert await billing.store.dead_letters() == []
        group = billing.group_id
    moment = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC).timestamp()
    assert paid == [(7, "t-1", moment)]

    (copy,) = read_records(kafka_bootstrap, f"{topic}.dlq", 1)
    assert copy.value() == value and copy.key() == b"ada"
    original, extra = _split(copy.headers())
    assert original == headers
    assert extra["momentum-dlq-exception-message"] == b"card of ada declined"
    assert extra["momentum-dlq-original-offset"] == b"0"

    _, replayed = read_records(kafka_bootstrap, topic, 2)
    assert replayed.value() == value and replayed.key() == b"ada"
    assert replayed.headers() == [*headers, ("momentum-replay-group", group.encode())]


HUGE_TYPE = "Poison." + base64.b64encode(random.Random(11).randbytes(6000)).decode()


async def test_every_poison_record_is_listed_and_replays_byte_for_byte(
    make_config: Callable[..., KafkaConfig],
    environment: str,
    kafka_bootstrap: str,
    database_url: str,
    schema: str,
) -> None:
    got: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        got.append(event.seq)

    # "orders" owns the topic (its package defines the events published there), so a record
    # of a type it does not know is poison
    orders = Service(
        "orders",
        "Orders",
        ["momentum_kafka_events"],
        transport=KafkaTransport(make_config()),
        store=PostgresStore(database_url, schema=schema),
        environment=environment,
    )
    orders.add_handler(placed)
    topic = f"{environment}.kafkatests.public.orders.v1"
    type_name = message_type_name(OrderPlaced).encode()

    def ce(record_id: bytes, ce_type: bytes = type_name) -> list[tuple[str, bytes]]:
        return [
            ("ce_specversion", b"1.0"),
            ("ce_id", record_id),
            ("ce_type", ce_type),
            ("ce_source", b"/test/poison"),
            ("content-type", b"application/json"),
        ]

    poison = [  # (key, value, headers): each one refused by the PostgreSQL table before
        (b"k\x00\xff", b"{not json", ce(b"nul-key")),
        (b"ada", b"{}", ce(b"nul-type", b"Kafka\x00Tests.Unknown")),
        (b"ada", b"{not json", ce(b"nul\x00id")),
        (b"bob", b"{}", ce(b"huge-type", HUGE_TYPE.encode())),
    ]
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    async with orders:
        async with tracked(orders, timeout=60):
            for key, value, headers in poison:
                producer.produce(topic, value, key, headers=headers)
            assert producer.flush(30) == 0
        store = orders.store
        assert store is not None
        letters = await store.dead_letters()
        assert len(letters) == len(poison)  # listable: `momentum dlq list` shows them all
        by_id = {dict(x.record.headers)["ce_id"]: x for x in letters}
        for key, value, headers in poison:
            letter = by_id[dict(headers)["ce_id"]]
            assert (letter.raw_key, letter.record.body, letter.record.headers) == (
                key,
                value,
                headers,
            )
        assert by_id[b"nul-key"].record.key == "k\ufffd\ufffd"
        assert by_id[b"nul\x00id"].record.message_id == "nul\ufffdid"
        assert by_id[b"huge-type"].message_type == HUGE_TYPE

        async with tracked(orders, timeout=60):
            outcome = await orders.replay_stored_dead_letters()
        assert (outcome.republished, outcome.left) == (len(poison), 0)
        again = await store.dead_letters()  # still poison to this group: kept again
        group = orders.group_id
    assert got == []
    assert sorted(dict(x.record.headers)["ce_id"] for x in again) == sorted(by_id)
    replayed = read_records(kafka_bootstrap, topic, 2 * len(poison))
    wanted = sorted(
        (key, value, [*headers, ("momentum-replay-group", group.encode())])
        for key, value, headers in poison
    )
    marked = [r for r in replayed if ("momentum-replay-group", group.encode()) in r.headers()]
    assert sorted((r.key(), r.value(), r.headers()) for r in marked) == wanted
