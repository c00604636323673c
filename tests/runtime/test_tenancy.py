"""The tenant of a message: where it comes from, where it goes, and the isolation guard.

In process (and on the in-memory broker); the same flows across Kafka are in
tests/kafka/test_tenancy_on_kafka.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from momentum import (
    Command,
    ContractError,
    ErrorRule,
    MessageBus,
    MessageContextFilter,
    MomentumSettings,
    PartitionKey,
    Service,
    TelemetrySettings,
    TenantContext,
    TenantIsolationError,
    TenantKey,
    cross_tenant,
    current_tenant,
    event_topic,
    tenant_scope,
)
from momentum.otel import OtelTelemetry
from momentum.sqlite import SqliteStore
from momentum.testing import InMemoryBroker

DOMAIN = "TenancyTests"


@dataclass(frozen=True)
class Noted:
    """No tenant field: its tenant is given, scoped or inherited."""

    text: str


@dataclass(frozen=True)
class Billed:
    """Names its tenant in the default field."""

    tenant_id: str
    text: str = ""


@dataclass(frozen=True)
class Audited:
    """Names its tenant in a field marked TenantKey."""

    organisation: Annotated[str, TenantKey()]
    text: str = ""


@cross_tenant
@dataclass(frozen=True)
class Announced:
    """May be published for another tenant (decorator)."""

    tenant_id: str


@dataclass(frozen=True)
class Broadcast:
    """May be published for another tenant (class attribute)."""

    __cross_tenant__ = True

    tenant_id: str


@dataclass(frozen=True)
class Publish(Command[None]):
    """Its handler publishes ``message`` (with ``tenant=`` when given)."""

    tenant_id: str
    message: Any = None
    tenant: str | None = None
    how: str = "bus"


@dataclass(frozen=True)
class Plain(Command[str | None]):
    """Its handler takes no injected parameter (the direct invoke path)."""

    tenant_id: str


class Seen:
    def __init__(self) -> None:
        self.tenants: list[tuple[str, str | None, str | None]] = []

    def note(self, what: str, context: TenantContext) -> None:
        self.tenants.append((what, context.tenant_id, current_tenant()))


def tenancy_service(seen: Seen, **options: Any) -> Service:
    service = Service("tenancy", DOMAIN, database_url="memory://", **options)

    async def publish(command: Publish, bus: MessageBus, context: TenantContext) -> None:
        seen.note("publish", context)
        if command.how == "root":
            await service.bus.publish(command.message)
        elif command.how == "many":
            await bus.publish_many([command.message])
        elif command.how == "send":
            await bus.send(command.message, tenant=command.tenant)
        elif command.how == "schedule":
            await bus.schedule(command.message, delay=0, tenant=command.tenant)
        elif command.how == "invoke":
            await bus.invoke(command.message)
        else:
            await bus.publish(command.message, tenant=command.tenant)

    async def plain(command: Plain) -> str | None:
        return current_tenant()

    async def noted(event: Noted, context: TenantContext) -> None:
        seen.note(f"noted {event.text}", context)

    async def billed(event: Billed, context: TenantContext) -> None:
        seen.note(f"billed {event.text}", context)

    async def audited(event: Audited, context: TenantContext) -> None:
        seen.note(f"audited {event.text}", context)

    for handler in (publish, plain, noted, billed, audited):
        service.add_handler(handler)
    return service


async def test_the_tenant_is_given_scoped_named_by_the_message_or_inherited() -> None:
    seen = Seen()
    async with tenancy_service(seen) as service, service.tracked():
        bus = service.bus
        await bus.publish(Noted("given"), tenant="t-given")
        with tenant_scope("t-scope"):
            await bus.publish(Billed("t-field", "scope wins over the field"))
            await bus.publish(Noted("given wins over the scope"), tenant="t-given")
        await bus.publish(Billed("t-field", "field"))
        await bus.publish(Audited("t-marked", "marked field"))
        await bus.publish(Noted("none"))
        # inside a handler of tenant A: inherited, unless the message names its own
        await bus.invoke(Publish("t-a", Noted("inherited")))
        await bus.invoke(Publish("t-a", Billed("t-b", "own field")))
        await bus.invoke(Publish("t-a", Noted("given in a handler"), tenant="t-c"))
        await bus.invoke(Publish("t-a", Noted("root bus in a handler"), how="root"))
    assert sorted(t for t in seen.tenants if t[0] != "publish") == sorted(
        [
            ("noted given", "t-given", "t-given"),
            ("billed scope wins over the field", "t-scope", "t-scope"),
            ("noted given wins over the scope", "t-given", "t-given"),
            ("billed field", "t-field", "t-field"),
            ("audited marked field", "t-marked", "t-marked"),
            ("noted none", None, None),
            ("noted inherited", "t-a", "t-a"),
            ("billed own field", "t-b", "t-b"),
            ("noted given in a handler", "t-c", "t-c"),
            ("noted root bus in a handler", "t-a", "t-a"),
        ]
    )
    assert current_tenant() is None  # nothing leaks out of the handlers


async def test_current_tenant_in_a_handler_on_every_path_and_none_after() -> None:
    seen = Seen()
    async with tenancy_service(seen) as service:
        assert await service.bus.invoke(Plain("t-direct")) == "t-direct"  # no envelope made
        with tenant_scope("t-scope"):
            assert await service.bus.invoke(Plain("t-direct")) == "t-scope"
        async with service.tracked():  # the enveloped path (tracked)
            assert await service.bus.invoke(Plain("t-tracked")) == "t-tracked"
            await service.bus.send(Publish("t-sent", Noted("queued")))
        assert current_tenant() is None
    assert ("publish", "t-sent", "t-sent") in seen.tenants
    assert ("noted queued", "t-sent", "t-sent") in seen.tenants


@dataclass(frozen=True)
class TwoTenants(Command[None]):
    a: Annotated[str, TenantKey()]
    b: Annotated[str, TenantKey()]


async def two_tenants(command: TwoTenants) -> None:
    return None


async def test_two_fields_marked_tenant_key_are_refused_at_start() -> None:
    service = Service("tenancy", DOMAIN, database_url="memory://")
    service.add_handler(two_tenants)
    with pytest.raises(ContractError, match=r"marks 2 fields TenantKey\(\) \(a, b\)"):
        await service.start()


@pytest.mark.parametrize(
    ("how", "message", "tenant"),
    [
        ("bus", Billed("t-b"), None),
        ("bus", Noted("explicit"), "t-b"),
        ("send", Publish("t-b", Noted("x")), None),
        ("schedule", Billed("t-b"), None),
        ("invoke", Plain("t-b"), None),
        ("root", Billed("t-b"), None),
        ("many", Billed("t-b"), None),
    ],
)
async def test_isolation_refuses_a_message_for_another_tenant(
    how: str, message: Any, tenant: str | None
) -> None:
    seen = Seen()
    async with tenancy_service(seen, tenant_isolation=True) as service:
        with pytest.raises(TenantIsolationError) as raised:
            await service.bus.invoke(Publish("t-a", message, tenant=tenant, how=how))
    error = raised.value
    assert (error.handling, error.target, error.message_type) == ("t-a", "t-b", type(message))
    text = str(error)
    assert "for tenant 't-a'" in text and "for tenant 't-b' was refused" in text
    assert type(message).__qualname__ in text and "cross_tenant" in text


async def test_isolation_lets_own_tenant_and_cross_tenant_types_through() -> None:
    seen = Seen()
    delivered: list[tuple[str, str | None]] = []
    service = tenancy_service(seen, tenant_isolation=True)

    async def announced(event: Announced, context: TenantContext) -> None:
        delivered.append(("announced", context.tenant_id))

    async def broadcast(event: Broadcast, context: TenantContext) -> None:
        delivered.append(("broadcast", context.tenant_id))

    service.add_handler(announced)
    service.add_handler(broadcast)
    async with service, service.tracked():
        await service.bus.invoke(Publish("t-a", Noted("inherited")))
        await service.bus.invoke(Publish("t-a", Billed("t-a", "same tenant")))
        await service.bus.invoke(Publish("t-a", Announced("t-b")))
        await service.bus.invoke(Publish("t-a", Broadcast("t-c"), how="many"))
        await service.bus.publish(Billed("t-z", "outside any handler"))
    assert sorted(delivered) == [("announced", "t-b"), ("broadcast", "t-c")]
    assert ("noted inherited", "t-a", "t-a") in seen.tenants
    assert ("billed same tenant", "t-a", "t-a") in seen.tenants
    assert ("billed outside any handler", "t-z", "t-z") in seen.tenants


async def test_a_queued_handler_refused_by_isolation_is_dead_lettered_with_the_reason() -> None:
    seen = Seen()
    service = tenancy_service(seen, tenant_isolation=True)
    service.on_error(ErrorRule.on(TenantIsolationError).dead_letter())
    async with service, service.tracked() as session:
        await service.bus.send(Publish("t-a", Billed("t-b", "cascade")))
    assert not [t for t in seen.tenants if t[0].startswith("billed")]
    (letter,) = service.dead_letters.records()  # type: ignore[attr-defined]
    assert letter.exception_type.endswith("TenantIsolationError")
    assert "for tenant 't-b' was refused" in letter.exception_message
    assert letter.envelope.tenant_id == "t-a"
    assert session.messages("failed", Publish)


# --- every propagation path: cascades, schedule, dead letters, logs, spans and metrics -------


@event_topic("tenancy-orders", domain=DOMAIN)
@dataclass(frozen=True)
class OrderPlaced:
    order_id: Annotated[str, PartitionKey()]


@dataclass(frozen=True)
class PlaceOrder(Command[str]):
    tenant_id: str
    order_id: str


@dataclass(frozen=True)
class StockChecked:
    order_id: str


@dataclass(frozen=True)
class ReminderDue:
    order_id: str


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(MessageContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_the_tenant_reaches_cascades_schedules_dead_letters_logs_spans_and_metrics(
    tmp_path: Path,
) -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    telemetry = OtelTelemetry(
        tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[reader])
    )
    store = SqliteStore(f"sqlite:///{tmp_path / 'tenancy.db'}")
    broker = InMemoryBroker()
    service = Service(
        "tenancy", DOMAIN, transport=broker.transport(), store=store, telemetry=telemetry
    )
    seen: list[tuple[str, str | None]] = []
    log = logging.getLogger("tests.tenancy")
    records = Records()
    log.addHandler(records)
    log.setLevel(logging.INFO)

    async def place(command: PlaceOrder) -> tuple[str, StockChecked]:
        log.info("placing %s", command.order_id)
        return command.order_id, StockChecked(command.order_id)  # cascade 1 (local)

    async def checked(event: StockChecked, context: TenantContext) -> OrderPlaced:
        seen.append(("checked", context.tenant_id))
        return OrderPlaced(event.order_id)  # cascade 2 (over the transport)

    async def placed(event: OrderPlaced, bus: MessageBus, context: TenantContext) -> None:
        seen.append(("placed", context.tenant_id))
        await bus.schedule(ReminderDue(event.order_id), delay=0.05)

    async def remind(event: ReminderDue, context: TenantContext) -> None:
        seen.append(("reminder", context.tenant_id))
        log.info("reminder for %s fails", event.order_id)
        raise RuntimeError("the reminder service is down")

    for handler in (place, checked, placed, remind):
        service.add_handler(handler)
    service.on_error(ErrorRule.on(RuntimeError).dead_letter())
    try:
        async with service:
            async with service.tracked(timeout=20):
                assert await service.bus.invoke(PlaceOrder("t-42", "o-1")) == "o-1"
            deadline = time.monotonic() + 20
            while not (letters := await store.dead_letters()):  # the reminder is due later
                assert time.monotonic() < deadline, "no dead letter of the scheduled reminder"
                await asyncio.sleep(0.02)
    finally:
        log.removeHandler(records)
    assert seen == [("checked", "t-42"), ("placed", "t-42"), ("reminder", "t-42")]
    (letter,) = letters
    assert letter.tenant == "t-42" and letter.message_type is not None
    assert ("ce_tenantid", b"t-42") in letter.record.headers
    assert [r.momentum_tenant for r in records.records] == ["t-42", "t-42"]  # type: ignore[attr-defined]
    tenants = {  # but the relay's batch span: a batch of outbox rows may mix tenants
        span.name: span.attributes.get("momentum.tenant_id")
        for span in spans.get_finished_spans()
        if not span.name.startswith("send ")
    }
    assert tenants == dict.fromkeys(
        [
            "invoke PlaceOrder",
            "publish local",
            "process StockChecked",
            "publish dev.tenancytests.public.tenancy-orders.v1",
            "receive dev.tenancytests.public.tenancy-orders.v1",
            "process OrderPlaced",
            "schedule local",
            "process ReminderDue",
        ],
        "t-42",
    )
    data = reader.get_metrics_data()
    points = [
        point
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name in ("momentum.messages.sent", "momentum.messages.dead_lettered")
        for point in metric.data.data_points
    ]
    assert points and {p.attributes.get("momentum.tenant_id") for p in points} == {"t-42"}


# --- tenant-scoped subscriptions ---------------------------------------------------------------


async def test_a_service_of_some_tenants_skips_the_others_records_unhandled() -> None:
    broker = InMemoryBroker()
    publisher = Service("orders", DOMAIN, transport=broker.transport(), database_url="memory://")
    handled: list[str | None] = []
    reader = InMemoryMetricReader()
    acme = Service(
        "acme-billing",
        DOMAIN,
        transport=broker.transport(),
        telemetry=OtelTelemetry(
            tracer_provider=TracerProvider(), meter_provider=MeterProvider(metric_readers=[reader])
        ),
        settings=MomentumSettings(
            database_url="memory://",
            tenants=["acme"],
            telemetry=TelemetrySettings(gauge_interval_seconds=0.02),
        ),
    )

    async def placed(event: OrderPlaced, context: TenantContext) -> None:
        handled.append(context.tenant_id)

    def skipped_metric() -> list[float]:
        data = reader.get_metrics_data()
        return [
            point.value
            for resource in (data.resource_metrics if data else [])
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == "momentum.messages.skipped_tenant"
            for point in metric.data.data_points
        ]

    acme.add_handler(placed)
    async with publisher, acme:
        async with acme.tracked() as session:
            await publisher.bus.publish(OrderPlaced("o-1"), tenant="acme")
            await publisher.bus.publish(OrderPlaced("o-2"), tenant="globex")
            await publisher.bus.publish(OrderPlaced("o-3"))
            await publisher.bus.publish(OrderPlaced("o-4"), tenant="acme")
        report = await acme.health()
        assert (await publisher.health()).tenant_skipped is None  # handles every tenant
        deadline = time.monotonic() + 10
        while skipped_metric() != [2]:  # the gauges are measured every 20 ms
            assert time.monotonic() < deadline, skipped_metric()
            await asyncio.sleep(0.02)
    assert handled == ["acme", "acme"]
    assert report.tenant_skipped == 2
    assert not acme.dead_letters.records()  # type: ignore[attr-defined]
    assert [a.kind for a in session if a.kind == "failed"] == []


async def test_a_scope_around_the_start_does_not_reach_the_queued_handlers() -> None:
    # the queue lanes are tasks made at start: they inherit the context of the caller, so a
    # tenant_scope around service.start() must not become every queued message's tenant
    seen = Seen()
    service = tenancy_service(seen)
    with tenant_scope("acme"):
        await service.start()
    try:
        async with service.tracked():
            await service.bus.send(Publish("globex", Noted("queued")))
    finally:
        await service.stop()
    assert ("publish", "globex", "globex") in seen.tenants
    assert ("noted queued", "globex", "globex") in seen.tenants
