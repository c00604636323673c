"""Telemetry of a service: spans, metrics and log context, read from in-memory exporters.

The OpenTelemetry SDK with an in-memory span exporter and metric reader, handed to the
service explicitly (``OtelTelemetry(tracer_provider=..., meter_provider=...)``), so tests
never touch the process-wide providers.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from momentum import (
    Command,
    ErrorRule,
    MessageContextFilter,
    PartitionKey,
    Service,
    event_topic,
)
from momentum.otel import OtelTelemetry
from momentum.testing import InMemoryBroker

DOMAIN = "TelemetryTests"


@event_topic("orders", domain=DOMAIN)
@dataclass(frozen=True)
class OrderPlaced:
    order_id: Annotated[str, PartitionKey()]
    tenant_id: str
    fail: bool = False


@dataclass(frozen=True)
class StockReserved:
    order_id: str
    fail: bool = False


@dataclass(frozen=True)
class PlaceOrder(Command[str]):
    order_id: str
    tenant_id: str
    fail: bool = False


class Telemetry:
    """An SDK tracer and meter provider with in-memory exporters."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def telemetry(self) -> OtelTelemetry:
        return OtelTelemetry(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name.startswith(prefix)]

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found.extend(m.data.data_points)
        return found

    def total(self, metric: str, **tags: str) -> float:
        return sum(
            p.value
            for p in self.points(metric)
            if all(p.attributes.get(k) == v for k, v in tags.items())
        )


@pytest.fixture
def otel() -> Telemetry:
    return Telemetry()


def shop(otel: Telemetry, broker: InMemoryBroker, **options: Any) -> Service:
    service = Service(
        "shop",
        DOMAIN,
        transport=broker.transport(),
        database_url="memory://",
        telemetry=otel.telemetry(),
        **options,
    )

    async def place(command: PlaceOrder) -> tuple[str, OrderPlaced]:
        return command.order_id, OrderPlaced(command.order_id, command.tenant_id, command.fail)

    async def placed(event: OrderPlaced) -> StockReserved:
        logging.getLogger("tests.shop").info("reserving stock for %s", event.order_id)
        return StockReserved(event.order_id, event.fail)

    async def reserved(event: StockReserved) -> None:
        if event.fail:
            raise RuntimeError("no stock")

    for handler in (place, placed, reserved):
        service.add_handler(handler)
    return service


async def test_one_trace_from_invoke_through_cascades_the_transport_and_a_local_queue(
    otel: Telemetry,
) -> None:
    broker = InMemoryBroker()
    service = shop(otel, broker)
    tracer = otel.tracer_provider.get_tracer("tests")
    async with service, service.tracked():
        with tracer.start_as_current_span("http request") as root:
            assert await service.bus.invoke(PlaceOrder("o-1", "t-1")) == "o-1"
    spans = {s.name: s for s in otel.finished()}
    trace_id = root.get_span_context().trace_id
    assert {s.context.trace_id for s in spans.values()} == {trace_id}, sorted(spans)
    invoke = spans["invoke PlaceOrder"]
    publish = spans["publish dev.telemetrytests.public.orders.v1"]
    receive = spans["receive dev.telemetrytests.public.orders.v1"]
    process = spans["process OrderPlaced"]
    local = spans["publish local"]
    reserved = spans["process StockReserved"]
    # each span's parent: the invoke runs in the request; the cascade is the invoke's child;
    # the record's receive span continues the producer's; the local queue its publisher's
    assert invoke.parent is not None and invoke.parent.span_id == root.get_span_context().span_id
    assert publish.parent is not None and publish.parent.span_id == invoke.context.span_id
    assert receive.parent is not None and receive.parent.span_id == publish.context.span_id
    assert process.parent is not None and process.parent.span_id == receive.context.span_id
    assert local.parent is not None and local.parent.span_id == process.context.span_id
    assert reserved.parent is not None and reserved.parent.span_id == local.context.span_id
    assert (invoke.kind, publish.kind, receive.kind, process.kind) == (
        SpanKind.INTERNAL,
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
        SpanKind.CONSUMER,
    )
    attributes = dict(publish.attributes or {})
    assert attributes["messaging.destination.name"] == "dev.telemetrytests.public.orders.v1"
    assert attributes["messaging.operation.type"] == "send"
    assert attributes["messaging.kafka.message.key"] == "o-1"
    assert attributes["momentum.message.type"].endswith("OrderPlaced")
    received = dict(receive.attributes or {})
    assert received["messaging.consumer.group.name"] == "dev.shop"
    assert received["messaging.message.id"] == attributes["messaging.message.id"]
    assert (
        received["messaging.message.conversation_id"]
        == attributes["messaging.message.conversation_id"]
    )


async def test_metrics_count_what_was_sent_handled_retried_and_dead_lettered(
    otel: Telemetry,
) -> None:
    broker = InMemoryBroker()
    service = shop(otel, broker)
    service.on_error(ErrorRule.on(RuntimeError).retry(2).dead_letter())
    async with service, service.tracked():
        for n in range(5):
            await service.bus.invoke(PlaceOrder(f"o-{n}", "t-1", fail=n == 4))
    assert otel.total("momentum.messages.sent", **{"momentum.service": "shop"}) == 10
    assert otel.total("momentum.messages.received") == 5
    handled = Counter()
    for point in otel.points("momentum.messages.succeeded"):
        handled[point.attributes["momentum.message.type"].rpartition(".")[2]] += point.value
    assert handled == {"PlaceOrder": 5, "OrderPlaced": 5, "StockReserved": 4}
    assert otel.total("momentum.messages.failed") == 3  # the first try and two retries
    assert otel.total("momentum.messages.retried") == 2
    assert (
        otel.total("momentum.messages.dead_lettered", **{"momentum.reason": "retries-exhausted"})
        == 1
    )
    durations = otel.points("momentum.handler.duration")
    assert sum(p.count for p in durations) == 5 + 5 + 4 + 3
    tenants = {
        p.attributes.get("momentum.tenant_id") for p in otel.points("momentum.messages.sent")
    }
    assert tenants == {"t-1"} or tenants == {None, "t-1"}


async def test_log_records_of_a_handler_carry_its_message(otel: Telemetry) -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    keep.addFilter(MessageContextFilter())
    logger = logging.getLogger("tests.shop")
    logger.addHandler(keep)
    logger.setLevel(logging.INFO)
    try:
        broker = InMemoryBroker()
        service = shop(otel, broker)
        async with service, service.tracked() as session:
            await service.bus.invoke(PlaceOrder("o-9", "t-7"))
        logger.info("outside any handler")
    finally:
        logger.removeHandler(keep)
    inside, outside = records
    (event,) = session.messages("handled", OrderPlaced)
    envelope = next(a.envelope for a in session if a.message is event)
    assert inside.momentum_message_id == envelope.message_id_text  # type: ignore[attr-defined]
    assert inside.momentum_message_type.endswith("OrderPlaced")  # type: ignore[attr-defined]
    assert inside.momentum_tenant == "t-7"  # type: ignore[attr-defined]
    assert inside.momentum_attempt == 1  # type: ignore[attr-defined]
    assert inside.momentum_correlation_id == envelope.correlation_id  # type: ignore[attr-defined]
    assert inside.momentum_handler.endswith("placed")  # type: ignore[attr-defined]
    assert outside.momentum_message_id is None  # type: ignore[attr-defined]


async def test_without_telemetry_nothing_is_wrapped(otel: Telemetry) -> None:
    service = Service("shop", DOMAIN, database_url="memory://", telemetry=False)

    async def place(command: PlaceOrder) -> str:
        return command.order_id

    service.add_handler(place)
    async with service:
        assert service.runtime.telemetry is None
        assert await service.bus.invoke(PlaceOrder("o-1", "t")) == "o-1"
    assert otel.finished() == []


async def test_no_payload_reaches_a_log_line_at_info(
    otel: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures, retries and dead letters are logged by type and id, never with the data."""
    broker = InMemoryBroker()
    service = shop(otel, broker)
    service.on_error(ErrorRule.on(RuntimeError).retry(1).dead_letter())
    secret = "tenant-4f1c-private-order-number"
    with caplog.at_level(logging.INFO, logger="momentum"):
        async with service, service.tracked():
            await service.bus.invoke(PlaceOrder(secret, secret, fail=True))
    momentum_lines = [r for r in caplog.records if r.name.startswith("momentum")]
    assert any("dead letters" in r.getMessage() for r in momentum_lines)
    for record in momentum_lines:
        assert secret not in record.getMessage(), record.getMessage()


async def test_publish_many_gives_each_message_its_producer_span(otel: Telemetry) -> None:
    broker = InMemoryBroker()
    service = shop(otel, broker)
    async with service, service.tracked():
        await service.bus.publish_many([OrderPlaced(f"o-{n}", "t") for n in range(3)])
    producers = otel.named("publish dev.telemetrytests.public.orders.v1")
    receives = otel.named("receive dev.telemetrytests.public.orders.v1")
    assert len(producers) == len(receives) == 3
    assert {r.parent.span_id for r in receives if r.parent} == {
        p.context.span_id for p in producers
    }
    assert len({p.context.trace_id for p in producers}) == 3  # new messages: a trace each


async def test_gauges_report_the_store_and_the_breaker(otel: Telemetry, tmp_path: Any) -> None:
    from momentum import CircuitBreakerSettings
    from momentum.runtime.gauges import GaugeRefresher
    from momentum.sqlite import SqliteStore

    broker = InMemoryBroker()
    service = Service(
        "shop",
        DOMAIN,
        transport=broker.transport(),
        store=SqliteStore(tmp_path / "shop.db"),
        telemetry=otel.telemetry(),
    )

    async def reserved(event: StockReserved) -> None:
        raise RuntimeError("no stock")

    service.add_handler(reserved)
    service.on_error(ErrorRule.on(RuntimeError).dead_letter())
    service.circuit_breaker(CircuitBreakerSettings())
    async with service, service.tracked():
        await service.bus.publish(StockReserved("o-1"))
    async with service:
        telemetry = service.runtime.telemetry
        assert isinstance(telemetry, OtelTelemetry)
        await GaugeRefresher(service.runtime, telemetry, 10).refresh()

        def gauge(name: str) -> float:
            (point,) = otel.points(name)
            assert point.attributes["momentum.service"] == "shop"
            return float(point.value)

        assert gauge("momentum.dead_letters") == 1
        assert gauge("momentum.outbox.backlog") == 0
        assert gauge("momentum.inbox.size") == 0  # a local delivery: no inbox row
        assert gauge("momentum.inbox.unsettled") == 0
        assert gauge("momentum.circuit_breaker.state") == 0  # closed
