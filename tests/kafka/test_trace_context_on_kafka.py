"""A record's W3C trace context goes on to the records its handler causes, over the broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest
from confluent_kafka import Producer
from kafka_support import read_records, wait_for

from momentum import Envelope, PartitionKey, Service, event_topic
from momentum.kafka import KafkaConfig, KafkaTransport

pytestmark = pytest.mark.kafka

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
TRACESTATE = "congo=t61rcWkgMzE"


@event_topic("trace-requests", domain="KafkaTests")
@dataclass(frozen=True)
class TraceRequested:
    """What another service (say a .NET one) writes, with a traceparent."""

    __message_type__ = "KafkaTests.Tracing.TraceRequested"

    customer: Annotated[str, PartitionKey()]


@event_topic("trace-answers", domain="KafkaTests")
@dataclass(frozen=True)
class TraceAnswered:
    """What the handler of ``TraceRequested`` cascades (an integration event of its own)."""

    __message_type__ = "KafkaTests.Tracing.TraceAnswered"

    customer: Annotated[str, PartitionKey()]


def header(record: object, name: str) -> str | None:
    for key, value in record.headers() or []:  # type: ignore[attr-defined]
        if key == name:
            return bytes(value).decode()
    return None


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_cascaded_record_carries_the_inbound_trace_context(
    store: str,
    make_config: Callable[..., KafkaConfig],
    environment: str,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    seen: list[dict[str, str]] = []

    async def on_request(event: TraceRequested, envelope: Envelope) -> TraceAnswered:
        seen.append(dict(envelope.headers))
        return TraceAnswered(event.customer)  # cascaded: to the outbox when there is a store

    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path / 'trace.db'}"
    service = Service(
        "tracer",
        "Tracing",
        transport=KafkaTransport(make_config()),
        environment=environment,
        database_url=url,
    )
    service.add_handler(on_request)
    requests = f"{environment}.kafkatests.public.trace-requests.v1"
    answers = f"{environment}.kafkatests.public.trace-answers.v1"
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_type", b"KafkaTests.Tracing.TraceRequested"),
        ("ce_source", b"/kafka_tests/dotnet-caller"),
        ("ce_time", b"2024-05-01T12:00:00.000000Z"),
        ("content-type", b"application/json"),
        ("ce_traceparent", TRACEPARENT.encode()),
        ("ce_tracestate", TRACESTATE.encode()),
    ]
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    async with service:
        producer.produce(requests, b'{"customer": "ada"}', b"ada", headers=headers)
        assert await asyncio.to_thread(producer.flush, 30) == 0
        await wait_for(lambda: bool(seen), "the handler of the traced record")
        [answer] = await asyncio.to_thread(read_records, kafka_bootstrap, answers, 1)
    assert seen[0]["traceparent"] == TRACEPARENT
    assert header(answer, "ce_traceparent") == TRACEPARENT
    assert header(answer, "ce_traceparent").split("-")[1] == TRACE_ID  # type: ignore[union-attr]
    assert header(answer, "ce_tracestate") == TRACESTATE
    assert header(answer, "ce_type") == "KafkaTests.Tracing.TraceAnswered"
