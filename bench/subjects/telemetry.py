"""Candidates of the telemetry benchmark: an invoke with telemetry off, on, and log context.

Every candidate invokes the invoke benchmark's command (two injected parameters, default
middleware) on its own service. "On" hands the service an OpenTelemetry SDK tracer provider
(a batch span processor with an exporter that drops the spans) and meter provider (no
reader): spans and metric points are made as in production, only nothing leaves the
process. The process-wide providers are never set, so the other benchmarks stay untraced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from bench.framework import Run
from bench.subjects.invoke_momentum import invoking


def _invoke(**options: Any) -> AbstractAsyncContextManager[Run]:
    return invoking(middleware=True, **options)


def off() -> AbstractAsyncContextManager[Run]:
    """Telemetry off (``telemetry=False``): the runtime holds no telemetry."""
    return _invoke(telemetry=False)


def auto_without_sdk() -> AbstractAsyncContextManager[Run]:
    """The default (auto) with the OpenTelemetry API installed and no SDK provider set."""
    return _invoke()


def log_context() -> AbstractAsyncContextManager[Run]:
    """Only the log context (``telemetry={"log_context": True}``: no OpenTelemetry)."""
    return _invoke(telemetry={"log_context": True})


@asynccontextmanager
async def on() -> AsyncIterator[Run]:
    """OpenTelemetry SDK providers: spans batched to a dropping exporter, metrics unread."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from momentum.otel import OtelTelemetry

    class Drop(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=65536))
    meter_provider = MeterProvider()
    telemetry = OtelTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        async with _invoke(telemetry=telemetry) as run:
            yield run
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()
