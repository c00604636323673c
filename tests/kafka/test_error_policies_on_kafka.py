"""Error policies on real Kafka: delayed retries keep key order and commit nothing early;
a message failing for good is dead-lettered and its offset committed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from kafka_support import committed_offsets, read_records
from momentum_kafka_events import OrderPlaced

from momentum import Service
from momentum.kafka import KafkaConfig, KafkaTransport
from momentum.runtime.dead_letters import InMemoryDeadLetters
from momentum.runtime.policies import ErrorRule
from momentum.testing import tracked

pytestmark = pytest.mark.kafka


async def test_failing_twice_then_succeeding_is_handled_once_in_key_order(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    calls: Counter[tuple[str, int]] = Counter()
    handled: dict[str, list[int]] = {}

    async def on_order(event: OrderPlaced) -> None:
        calls[(event.customer, event.seq)] += 1
        if event.seq == 3 and calls[(event.customer, 3)] <= 2:
            raise ConnectionError("payment provider unavailable")
        handled.setdefault(event.customer, []).append(event.seq)

    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    billing = Service(
        "billing", "Billing", transport=KafkaTransport(make_config()), environment=environment
    )
    billing.add_handler(on_order)
    billing.on_error(ErrorRule.on(ConnectionError).retry_after(0.05, 0.05))
    customers = ("ada", "bob", "cyd")
    async with shop, billing:
        async with tracked(shop, billing, timeout=60) as session:
            for seq in range(8):
                for customer in customers:
                    await shop.bus.publish(OrderPlaced(customer, seq))
        topic = f"{environment}.kafkatests.public.orders.v1"
        group = billing.group_id
    assert handled == {c: list(range(8)) for c in customers}  # once each, in order
    assert all(calls[(c, 3)] == 3 for c in customers)
    assert len(session.retried) == 6 and session.dead_lettered == []
    assert sum(max(o, 0) for o in committed_offsets(kafka_bootstrap, group, topic)) == 24


async def test_a_message_failing_for_good_is_dead_lettered_and_committed(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    async def on_order(event: OrderPlaced) -> None:
        if event.seq == 1:
            raise ValueError("cannot bill this order")

    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    billing = Service(
        "billing", "Billing", transport=KafkaTransport(make_config()), environment=environment
    )
    billing.add_handler(on_order)
    billing.on_error(ErrorRule.on(ValueError).retry(1))
    async with shop, billing:
        async with tracked(shop, billing, timeout=60) as session:
            for seq in range(3):
                await shop.bus.publish(OrderPlaced("ada", seq))
        group = billing.group_id
    dead = billing.dead_letters
    assert isinstance(dead, InMemoryDeadLetters)
    [record] = dead.records()
    assert record.envelope.message == OrderPlaced("ada", 1) and record.attempts == 2
    origin = record.envelope.origin
    assert origin is not None and origin.transport == "kafka" and origin.offset is not None
    assert len(session.dead_lettered) == 1
    topic = f"{environment}.kafkatests.public.orders.v1"
    assert sum(max(o, 0) for o in committed_offsets(kafka_bootstrap, group, topic)) == 3


async def test_dead_letters_land_on_the_dlq_topic_with_failure_headers(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    async def on_order(event: OrderPlaced) -> None:
        raise ValueError(f"order {event.seq} cannot be billed")

    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    billing = Service(
        "billing", "Billing", transport=KafkaTransport(make_config()), environment=environment
    )
    billing.add_handler(on_order)
    billing.on_error(ErrorRule.on(ValueError).retry(2))
    async with shop, billing, tracked(shop, billing, timeout=60):
        await shop.bus.publish(OrderPlaced("ada", 7))
    topic = f"{environment}.kafkatests.public.orders.v1"
    (record,) = read_records(kafka_bootstrap, f"{topic}.dlq", 1)
    headers = {k: v.decode() for k, v in record.headers() or []}
    assert record.key() == b"ada"
    assert headers["ce_type"] == "momentum_kafka_events.OrderPlaced"
    assert headers["momentum-dlq-reason"] == "retries-exhausted"
    assert headers["momentum-dlq-exception-type"] == "builtins.ValueError"
    assert headers["momentum-dlq-exception-message"] == "order 7 cannot be billed"
    assert "Traceback" in headers["momentum-dlq-stack"]
    assert headers["momentum-dlq-attempts"] == "3"
    assert headers["momentum-dlq-handler"].endswith("on_order")
    assert headers["momentum-dlq-original-topic"] == topic
    assert int(headers["momentum-dlq-original-offset"]) == 0
    assert headers["momentum-dlq-failed-at"].endswith("Z")
    assert b'"seq":7' in record.value().replace(b" ", b"")
