"""Provisioning, publish failures, back pressure and rebalancing between two consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from kafka_support import wait_for
from momentum_kafka_events import OrderPlaced

from momentum import Envelope, Service
from momentum.contracts.errors import TransportError
from momentum.kafka import KafkaConfig, KafkaTransport, TopicProvisioning, provision_topics
from momentum.testing import tracked

pytestmark = pytest.mark.kafka

CUSTOMERS = ("ada", "bob", "cyd", "dee", "eve", "fay")


def describe(bootstrap: str, topic: str) -> tuple[int, str | None]:
    """Partition count and `retention.ms` of `topic`."""
    from confluent_kafka.admin import ConfigResource

    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(topic, timeout=10).topics[topic]
    resource = ConfigResource("TOPIC", topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    return len(metadata.partitions), configs["retention.ms"].value


async def test_provisioning_creates_topics_and_dead_letter_topics_once(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    config = make_config(
        provisioning=TopicProvisioning(
            enabled=True, partitions=2, configs={"retention.ms": "3600000"}
        )
    )
    topic = f"{environment}.kafkatests.public.provisioned.v1"
    created = await provision_topics(config, [topic])
    assert created == [topic, f"{topic}.dlq"]
    assert await provision_topics(config, [topic]) == []  # idempotent
    for name in (topic, f"{topic}.dlq"):
        assert describe(kafka_bootstrap, name) == (2, "3600000")


async def test_the_transport_provisions_subscribed_published_and_listed_topics(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    extra = f"{environment}.kafkatests.public.extra.v1"
    orders = f"{environment}.kafkatests.public.orders.v1"

    async def placed(event: OrderPlaced) -> None:
        pass

    service = Service(
        "prov",
        "Shop",
        transport=KafkaTransport(make_config(topics_to_provision=(extra,))),
        environment=environment,
    )
    service.add_handler(placed)
    async with service:
        topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
        assert {orders, f"{orders}.dlq", extra, f"{extra}.dlq"} <= set(topics)


async def test_a_publish_that_cannot_be_delivered_raises_transport_error(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    config = make_config(
        provisioning=TopicProvisioning(enabled=False), producer={"message.timeout.ms": 1500}
    )
    service = Service("lost", "Shop", transport=KafkaTransport(config), environment=environment)
    async with service:
        with pytest.raises(TransportError) as caught:
            await service.bus.publish(OrderPlaced("ada", 1))
    text = str(caught.value)
    assert f"{environment}.kafkatests.public.orders.v1" in text
    assert "timed out" in text.lower() or "unknown" in text.lower(), text


async def test_a_slow_partition_is_paused_and_resumed_without_losing_order(
    make_config: Callable[..., KafkaConfig], environment: str
) -> None:
    got: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        await asyncio.sleep(0.001)
        got.append(event.seq)

    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    async with shop:
        for seq in range(400):
            await shop.bus.publish(OrderPlaced("ada", seq))
    transport = KafkaTransport(make_config(max_buffered_per_partition=20))
    billing = Service("billing", "Billing", transport=transport, environment=environment)
    billing.add_handler(placed)
    async with billing, tracked(billing, timeout=60):
        pass
    assert got == sorted(got) and sorted(got) == list(range(400))  # ordered, none lost
    assert transport.pauses >= 1


@pytest.mark.parametrize(
    "group_settings",
    [
        {"assignment_strategy": "cooperative-sticky"},
        {"assignment_strategy": "range"},
        {"consumer": {"group.protocol": "consumer"}},
    ],
    ids=["cooperative-sticky", "eager-range", "kip848-consumer-protocol"],
)
async def test_a_second_member_takes_partitions_over_without_loss_or_duplicates(
    make_config: Callable[..., KafkaConfig], environment: str, group_settings: dict[str, Any]
) -> None:
    seen: list[tuple[str, str, int]] = []  # member, customer, seq
    first_transport = KafkaTransport(make_config(**group_settings))
    second_transport = KafkaTransport(make_config(**group_settings))

    def handler(member: str):
        async def placed(event: OrderPlaced, envelope: Envelope) -> None:
            if member == "first" and len(seen) >= 30:
                # hold the first member until the rebalance starts taking its partitions
                await wait_for(
                    lambda: (
                        bool(second_transport.assignment) or len(first_transport.assignment) < 3
                    ),
                    "a rebalance",
                )
            await asyncio.sleep(0.01)
            seen.append((member, event.customer, event.seq))

        return placed

    shop = Service("shop", "Shop", transport=KafkaTransport(make_config()), environment=environment)
    async with shop:
        for seq in range(60):
            for customer in CUSTOMERS:
                await shop.bus.publish(OrderPlaced(customer, seq))
    first = Service("billing", "Billing", transport=first_transport, environment=environment)
    first.add_handler(handler("first"))
    second = Service("billing", "Billing", transport=second_transport, environment=environment)
    second.add_handler(handler("second"))
    async with first:
        await wait_for(lambda: len(seen) >= 30, "the first member to be busy")
        async with second:
            await wait_for(lambda: bool(second_transport.assignment), "a rebalance")
            # with the eager protocol the first member's new assignment may arrive a moment
            # after the second's: wait until both members together hold the 3 partitions
            await wait_for(
                lambda: len(first_transport.assignment) + len(second_transport.assignment) == 3,
                "both members' assignments",
            )
            async with tracked(first, second, timeout=60):
                pass
    assert any(m == "second" for m, _, _ in seen), "no record handled by the second member"
    records = [(c, s) for _, c, s in seen]
    assert sorted(records) == sorted((c, s) for c in CUSTOMERS for s in range(60))
    for customer in CUSTOMERS:
        assert [s for _, c, s in seen if c == customer] == list(range(60))


async def test_topics_of_a_throw_away_environment_are_deleted_by_prefix(
    make_config: Callable[..., KafkaConfig], environment: str, kafka_bootstrap: str
) -> None:
    from momentum.kafka.provisioning import delete_topics_sync

    config = make_config()
    mine = [f"{environment}.x.public.a.v1", f"{environment}.x.public.b.v1"]
    created = await provision_topics(config, mine)
    assert len(created) == 4  # with their .dlq topics
    deleted = await asyncio.to_thread(delete_topics_sync, config, f"{environment}.")
    assert deleted == sorted(created)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    await wait_for(
        lambda: not [t for t in admin.list_topics(timeout=10).topics if t.startswith(environment)],
        "the topics gone",
    )
    assert await asyncio.to_thread(delete_topics_sync, config, f"{environment}.") == []
    with pytest.raises(ValueError, match="prefix"):
        delete_topics_sync(config, "")
