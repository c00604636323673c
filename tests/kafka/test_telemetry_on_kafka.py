"""Traces across services on real Kafka: one trace from an invoke in this process, through a
cascade, Kafka (directly and through the outbox and its relay) and the handlers of a second
service in another process, which cascades once more over Kafka. The consumer lag gauge."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka_support import wait_for
from momentum_kafka_events import OrderPlaced
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from momentum import Command, Service
from momentum.contracts.topics import topic_name
from momentum.kafka import KafkaConfig, KafkaTransport
from momentum.otel import OtelTelemetry
from momentum.sqlite import SqliteStore

HERE = Path(__file__).parent


@dataclass(frozen=True)
class PlaceOrder(Command[None]):
    customer: str
    seq: int


@pytest.fixture
def traced_billing(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    started: list[subprocess.Popen[str]] = []

    def start(environment: str) -> Path:
        spans = tmp_path / "billing-spans.jsonl"
        process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "traced_process.py"),
                kafka_bootstrap,
                environment,
                str(spans),
            ],
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            },
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        return spans

    yield start
    for process in started:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def read_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_one_trace_spans_an_invoke_a_cascade_kafka_the_outbox_and_another_process(
    kafka_bootstrap: str,
    environment: str,
    make_config: Callable[..., KafkaConfig],
    traced_billing: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    spans_file = traced_billing(environment)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    shop = Service(
        "shop",
        "KafkaTests",
        transport=KafkaTransport(make_config()),
        store=SqliteStore(tmp_path / "shop.db", poll_interval=0.05),
        environment=environment,
        telemetry=OtelTelemetry(tracer_provider=provider),
    )

    async def place(command: PlaceOrder) -> OrderPlaced:
        return OrderPlaced(command.customer, command.seq)

    shop.add_handler(place)
    tracer = provider.get_tracer("tests")
    topic = topic_name(OrderPlaced, environment)
    async with shop:
        with tracer.start_as_current_span("request direct") as direct:
            await shop.bus.invoke(PlaceOrder("c1", 1))  # cascaded: published to Kafka
        with tracer.start_as_current_span("request outbox") as through_outbox:
            async with shop.bus.transaction():
                await shop.bus.publish(OrderPlaced("c2", 2))  # an outbox row, then the relay
        await wait_for(
            lambda: sum(s["name"] == "process OrderPaid" for s in read_spans(spans_file)) == 2,
            "both orders paid in the other process",
            60,
        )
    ours = {s.name: s for s in exporter.get_finished_spans()}
    theirs = read_spans(spans_file)
    for root, producer_name in ((direct, f"publish {topic}"), (through_outbox, f"publish {topic}")):
        trace_id = f"{root.get_span_context().trace_id:032x}"
        mine = [
            s for s in exporter.get_finished_spans() if f"{s.context.trace_id:032x}" == trace_id
        ]
        producer = next(s for s in mine if s.name == producer_name)
        other = [s for s in theirs if s["trace_id"] == trace_id]
        names = [s["name"] for s in other]
        assert sorted(names) == sorted(
            [
                f"receive {topic}",
                "process OrderPlaced",
                f"publish {topic}",
                f"receive {topic}",
                "process OrderPaid",
            ]
        ), names
        receives = [s for s in other if s["name"] == f"receive {topic}"]
        # the first receive continues this process's producer span
        assert f"{producer.context.span_id:016x}" in {s["parent"] for s in receives}
        first = next(s for s in receives if s["parent"] == f"{producer.context.span_id:016x}")
        assert first["attributes"]["messaging.consumer.group.name"] == f"{environment}.billing"
        assert first["attributes"]["messaging.destination.name"] == topic
        assert "messaging.kafka.offset" in first["attributes"]
    invoke = ours["invoke PlaceOrder"]
    assert invoke.parent is not None and invoke.parent.span_id == direct.get_span_context().span_id
    relay = next(s for s in exporter.get_finished_spans() if s.name == f"send {topic}")
    linked = {link.context.trace_id for link in relay.links}
    assert through_outbox.get_span_context().trace_id in linked


async def test_publish_many_on_kafka_traces_each_message(
    environment: str, make_config: Callable[..., KafkaConfig]
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handled: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        handled.append(event.seq)

    service = Service(
        "shop",
        "KafkaTests",
        transport=KafkaTransport(make_config()),
        environment=environment,
        database_url="memory://",
        telemetry=OtelTelemetry(tracer_provider=provider),
    )
    service.add_handler(placed)
    topic = topic_name(OrderPlaced, environment)
    async with service:
        await service.bus.publish_many([OrderPlaced(f"c{n % 3}", n) for n in range(200)])
        await wait_for(lambda: len(handled) == 200, "all handled")
        await service.runtime.wait_idle()
    spans = exporter.get_finished_spans()
    producers = {s.context.span_id for s in spans if s.name == f"publish {topic}"}
    receives = [s for s in spans if s.name == f"receive {topic}"]
    assert len(producers) == 200 and len(receives) == 200
    assert {s.parent.span_id for s in receives if s.parent} == producers


async def test_the_consumer_lag_is_what_the_group_has_not_committed(
    kafka_bootstrap: str, environment: str, make_config: Callable[..., KafkaConfig]
) -> None:
    gate = asyncio.Event()
    handled: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        await gate.wait()
        handled.append(event.seq)

    billing = Service(
        "billing",
        "Billing",
        transport=KafkaTransport(make_config()),
        environment=environment,
        database_url="memory://",
    )
    billing.add_handler(placed)
    shop = Service(
        "shop",
        "KafkaTests",
        transport=KafkaTransport(make_config()),
        environment=environment,
        database_url="memory://",
    )
    async with shop, billing:
        transport = billing.transport
        assert isinstance(transport, KafkaTransport)
        await shop.bus.publish_many([OrderPlaced("c1", n) for n in range(20)])

        async def lag() -> int:
            return sum((await transport.consumer_lag()).values())

        deadline = asyncio.get_running_loop().time() + 30
        while await lag() != 20:  # fetched, none handled, none committed
            assert asyncio.get_running_loop().time() < deadline, await transport.consumer_lag()
            await asyncio.sleep(0.05)  # poll interval, not a wait for an outcome
        gate.set()
        await wait_for(lambda: len(handled) == 20, "all handled")
        while await lag() != 0:
            assert asyncio.get_running_loop().time() < deadline + 30, "offsets not committed"
            await asyncio.sleep(0.05)  # poll interval, not a wait for an outcome


async def test_poison_records_kept_in_the_store_are_counted_by_reason(
    kafka_bootstrap: str,
    environment: str,
    make_config: Callable[..., KafkaConfig],
    tmp_path: Path,
) -> None:
    from confluent_kafka import Producer
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from test_poison_flood import garbage

    from momentum.contracts.message_types import message_type_name

    reader = InMemoryMetricReader()
    handled: list[int] = []

    async def placed(event: OrderPlaced) -> None:
        handled.append(event.seq)

    billing = Service(
        "billing",
        "KafkaTests",
        transport=KafkaTransport(make_config()),
        store=SqliteStore(tmp_path / "billing.db", poll_interval=0.05),
        environment=environment,
        telemetry=OtelTelemetry(meter_provider=MeterProvider(metric_readers=[reader])),
    )
    billing.add_handler(placed)
    topic = topic_name(OrderPlaced, environment)
    expected: dict[str, int] = {}
    async with billing:
        store = billing.runtime.store
        assert store is not None
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        for i in range(8):
            value, headers, reason = garbage(i, message_type_name(OrderPlaced))
            producer.produce(topic, value, f"k{i}", headers=headers)
            expected[f"poison:{reason}"] = expected.get(f"poison:{reason}", 0) + 1
        producer.flush(30)

        async def kept() -> int:
            return len(await store.dead_letters())

        deadline = asyncio.get_running_loop().time() + 60
        while await kept() < 8:
            assert asyncio.get_running_loop().time() < deadline, await kept()
            await asyncio.sleep(0.05)  # poll interval, not a wait for an outcome
    counted: dict[str, int] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "momentum.messages.dead_lettered":
                    for point in metric.data.data_points:
                        reason = str(point.attributes["momentum.reason"])
                        counted[reason] = counted.get(reason, 0) + int(point.value)
                        assert "momentum.message.type" not in point.attributes
    assert counted == expected
