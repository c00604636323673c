"""An event to a Kafka record (JSON value + CloudEvents binary-mode headers), ready to produce.

The event is shaped like the example app's ``CashierCreated(tenant_id, Cashier(cashier_id,
name, email))``, with a tenant, a correlation id and a ``traceparent``. Every candidate
encodes an already-built event (id and time fixed beforehand), so id generation is not
measured. The SDK candidates start from a ``CloudEvent`` whose data is already a ``dict``;
momentum starts from the dataclass itself, so it also pays for turning it into JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from bench.framework import Benchmark, Run

BENCHMARK = Benchmark(
    name="cloudevents-encoding",
    title="an event to a Kafka record value and CloudEvents binary-mode headers",
    baseline="cloudevents SDK v1 kafka.to_binary",
    target="momentum `cloudevents.encode` at most 4 µs per event, and no slower than the SDK",
)

TENANT = UUID("6f1c2a4e-8d0b-4c1e-9a55-0123456789ab")
CASHIER = UUID("0b9d7f3c-1e2a-4b5c-8d6e-abcdefabcdef")
MESSAGE_ID = UUID("3d1f0a52-5b7e-4c2b-9f61-1e2d3c4b5a69")
CREATED = 1714566615.25
SOURCE = "/app_domain/app-domain"
TYPE = "AppDomain.Cashiers.CashierCreated"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CORRELATION = "7e0c7b0e-2f0a-4f7c-9d0e-5b1f7a3c2d10"


@dataclass(frozen=True)
class Cashier:
    """The nested entity."""

    cashier_id: UUID
    name: str
    email: str


@dataclass(frozen=True)
class CashierCreated:
    """The encoded event."""

    __message_type__ = TYPE

    tenant_id: UUID
    cashier: Cashier


DATA = {
    "tenantId": str(TENANT),
    "cashier": {"cashierId": str(CASHIER), "name": "Ada", "email": "ada@example.com"},
}
ATTRIBUTES = {
    "specversion": "1.0",
    "id": str(MESSAGE_ID),
    "type": TYPE,
    "source": SOURCE,
    "time": "2024-05-01T12:30:15.250000Z",
    "datacontenttype": "application/json",
    "tenantid": str(TENANT),
    "correlationid": CORRELATION,
    "traceparent": TRACEPARENT,
}


def _check(value: bytes, headers: Any) -> None:
    names = {name for name, _ in (headers.items() if isinstance(headers, dict) else headers)}
    assert {"ce_id", "ce_type", "ce_source", "ce_time", "ce_tenantid", "ce_traceparent"} <= names
    assert b"ada@example.com" in value


@asynccontextmanager
async def momentum_encode() -> AsyncIterator[Run]:
    """``momentum.contracts.cloudevents.encode(envelope)``: payload and headers."""
    from momentum.contracts.cloudevents import encode
    from momentum.contracts.envelope import Envelope

    envelope = Envelope(
        CashierCreated(TENANT, Cashier(CASHIER, "Ada", "ada@example.com")),
        message_id=MESSAGE_ID,
        tenant_id=str(TENANT),
        correlation_id=CORRELATION,
        created=CREATED,
        source=SOURCE,
        headers={"traceparent": TRACEPARENT},
    )
    _check(*encode(envelope))

    async def run(n: int) -> None:
        for _ in range(n):
            encode(envelope)

    yield run


@asynccontextmanager
async def sdk_v1_to_binary() -> AsyncIterator[Run]:
    """``cloudevents.v1.kafka.to_binary(CloudEvent(attributes, data))`` (json.dumps data)."""
    try:
        from cloudevents.v1.http import CloudEvent
        from cloudevents.v1.kafka import to_binary
    except ImportError:  # cloudevents 1.x
        from cloudevents.http import CloudEvent  # type: ignore[no-redef]
        from cloudevents.kafka import to_binary  # type: ignore[no-redef]

    event = CloudEvent(dict(ATTRIBUTES), DATA)
    message = to_binary(event)
    _check(message.value, message.headers)

    async def run(n: int) -> None:
        for _ in range(n):
            to_binary(event)

    yield run


@asynccontextmanager
async def sdk_core_to_binary() -> AsyncIterator[Run]:
    """``cloudevents.core.bindings.kafka.to_binary(CloudEvent, JSONFormat())`` (SDK 2.x API)."""
    from cloudevents.core.bindings.kafka import to_binary
    from cloudevents.core.formats.json import JSONFormat
    from cloudevents.core.v1.event import CloudEvent

    time = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)
    event = CloudEvent(attributes={**ATTRIBUTES, "time": time}, data=DATA)
    event_format = JSONFormat()
    message = to_binary(event, event_format)
    _check(message.value, message.headers)

    async def run(n: int) -> None:
        for _ in range(n):
            to_binary(event, event_format)

    yield run


BENCHMARK.add(
    "cloudevents SDK v1 kafka.to_binary",
    sdk_v1_to_binary,
    note="the official SDK's Kafka binding (`cloudevents.kafka` in 1.x, `cloudevents.v1.kafka` "
    "in 2.x); data is a ready `dict`, marshalled with `json.dumps`.",
)
BENCHMARK.add(
    "cloudevents SDK core kafka.to_binary",
    sdk_core_to_binary,
    note="the SDK 2.x binding `cloudevents.core.bindings.kafka.to_binary` with `JSONFormat`.",
)
BENCHMARK.add(
    "momentum cloudevents.encode",
    momentum_encode,
    max_ratio=1.0,
    note="from the frozen dataclass: camelCase JSON via the cached pydantic-core serializer, "
    "plus the ce_* headers (tenant, correlation, traceparent) as confluent-kafka takes them.",
)
