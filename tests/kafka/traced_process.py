"""A traced consumer process: `python traced_process.py BOOTSTRAP ENV SPANS`.

Runs the `billing` service (group `{env}.billing`, no store) handling `OrderPlaced` with the
OpenTelemetry SDK installed as the global tracer provider: telemetry turns on by itself
(the default `telemetry.enabled` is auto). Each finished span is appended to SPANS as one
JSON line (name, kind, trace id, span id, parent span id, attributes). The handler cascades
an `OrderPaid`, handled by this process too. Stops gracefully on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence

from momentum_kafka_events import OrderPaid, OrderPlaced
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from momentum import Service
from momentum.kafka import KafkaConfig, KafkaTransport, TopicProvisioning


class JsonLines(SpanExporter):
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            line = {
                "name": span.name,
                "kind": span.kind.name,
                "trace_id": f"{span.context.trace_id:032x}",
                "span_id": f"{span.context.span_id:016x}",
                "parent": f"{span.parent.span_id:016x}" if span.parent else None,
                "attributes": dict(span.attributes or {}),
            }
            os.write(self.fd, (json.dumps(line) + "\n").encode())  # one append per span
        return SpanExportResult.SUCCESS


async def main(bootstrap: str, environment: str, spans: str) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLines(spans)))
    trace.set_tracer_provider(provider)

    async def placed(event: OrderPlaced) -> OrderPaid:
        return OrderPaid(event.customer, event.seq)

    async def paid(event: OrderPaid) -> None:
        pass

    config = KafkaConfig(
        bootstrap_servers=bootstrap,
        provisioning=TopicProvisioning(enabled=True, partitions=3),
        commit_interval=0.05,
        consumer={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
    )
    service = Service(
        "billing",
        "Billing",
        transport=KafkaTransport(config),
        environment=environment,
        database_url="memory://",
    )
    service.add_handler(placed)
    service.add_handler(paid)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with service:
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
