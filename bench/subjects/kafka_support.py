"""What the Kafka benchmarks share: the broker, unique topics, the event and its record.

The broker is ``MOMENTUM_KAFKA_BOOTSTRAP_SERVERS`` (default ``127.0.0.1:9092``). When it does
not answer within a few seconds every Kafka candidate raises :class:`~bench.framework.Skip`.
Every candidate creates its own topics under a random 4-letter environment and deletes
them when it exits, so runs never see each other's records.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import string
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID, uuid4

from bench.framework import Skip
from momentum import PartitionKey, event_topic

BOOTSTRAP = os.environ.get("MOMENTUM_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
DOMAIN = "BenchKafka"
PARTITIONS = 3
TIMEOUT = 30.0
TENANTS = [UUID(int=0x6F1C2A4E_8D0B_4C1E_9A55_0123456789AB + i) for i in range(24)]


@dataclass(frozen=True)
class Cashier:
    """The nested entity (as in the cloudevents-encoding benchmark)."""

    cashier_id: UUID
    name: str
    email: str


@event_topic("cashiers", domain=DOMAIN)
@dataclass(frozen=True)
class CashierCreated:
    """The published / consumed integration event (keyed by tenant)."""

    tenant_id: Annotated[UUID, PartitionKey()]
    cashier: Cashier


@event_topic("pings", domain=DOMAIN)
@dataclass(frozen=True)
class Ping:
    """The latency probe: carries ``time.perf_counter_ns()`` of the moment it was published."""

    tenant_id: Annotated[UUID, PartitionKey()]
    sent_ns: int


def cashier_created(i: int = 0) -> CashierCreated:
    """The ``i``-th event (tenants rotate, so records spread over the partitions)."""
    tenant = TENANTS[i % len(TENANTS)]
    return CashierCreated(tenant, Cashier(UUID(int=i), "Ada", "ada@example.com"))


def environment() -> str:
    """A random 4-letter environment (topic names keep environments under 5 characters)."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(4))


def topic_of(event_type: type, env: str) -> str:
    """The topic momentum uses for ``event_type`` in ``env``."""
    from momentum import topic_name

    return topic_name(event_type, env)


def producer_config() -> dict[str, Any]:
    """momentum's producer properties (idempotent, acks=all, zstd, linger.ms=1), as used raw."""
    from momentum.kafka import KafkaConfig

    return KafkaConfig(bootstrap_servers=BOOTSTRAP).producer_config()


def kafka_config(**overrides: Any) -> Any:
    """A momentum ``KafkaConfig`` for the bench broker (defaults otherwise)."""
    from momentum.kafka import KafkaConfig

    return KafkaConfig(bootstrap_servers=BOOTSTRAP, **overrides)


def _require_broker() -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP, "socket.timeout.ms": 3000})
    try:
        admin.list_topics(timeout=5)
    except Exception as exc:
        raise Skip(f"no Kafka broker answers at {BOOTSTRAP} ({type(exc).__name__})") from None


def _create(topics: list[str]) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=PARTITIONS, replication_factor=1) for t in topics],
        operation_timeout=TIMEOUT,
    )
    for future in futures.values():
        future.result(timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while True:  # wait until every partition has a leader
        described = admin.list_topics(timeout=TIMEOUT).topics
        if all(
            t in described
            and described[t].error is None
            and len(described[t].partitions) == PARTITIONS
            and all(p.leader >= 0 for p in described[t].partitions.values())
            for t in topics
        ):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics {topics} got no leaders")
        time.sleep(0.05)  # poll interval while the controller elects leaders


def _delete(topics: list[str]) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    for future in admin.delete_topics(topics, operation_timeout=TIMEOUT).values():
        with contextlib.suppress(Exception):  # best effort: a leftover topic is harmless
            future.result(timeout=TIMEOUT)


@asynccontextmanager
async def topics(names: Iterable[str]) -> AsyncIterator[list[str]]:
    """Create ``names`` (3 partitions; skips the candidate without a broker); delete on exit."""
    wanted = list(names)
    await asyncio.to_thread(_require_broker)
    await asyncio.to_thread(_create, wanted)
    try:
        yield wanted
    finally:
        await asyncio.to_thread(_delete, wanted)


def encoded_record(i: int = 0) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """``(key, value, headers)`` exactly as momentum writes the ``i``-th event."""
    from momentum.contracts.envelope import Envelope
    from momentum.contracts.partitioning import partition_key
    from momentum.kafka.codec import encode_record

    event = cashier_created(i)
    envelope = Envelope(event, message_id=uuid4(), source="/bench_kafka/bench-publisher")
    return encode_record(envelope, partition_key(event), "camel")


def prefill(topic: str, count: int) -> None:
    """Write ``count`` momentum-encoded events (unique ``ce_id``s) to ``topic``; blocking."""
    from confluent_kafka import Producer

    _, value, headers = encoded_record()
    keys = [str(t).encode() for t in TENANTS]
    position = next(i for i, (name, _) in enumerate(headers) if name == "ce_id")
    producer = Producer({**producer_config(), "linger.ms": 20})
    for i in range(count):
        record_headers = list(headers)
        record_headers[position] = ("ce_id", str(uuid4()).encode())
        while True:
            try:
                producer.produce(topic, value, keys[i % len(keys)], headers=record_headers)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(TIMEOUT)
    if remaining:
        raise RuntimeError(f"prefill of {topic}: {remaining} records undelivered")
