"""What telemetry costs an in-process invoke: nothing when off, its price when on."""

from __future__ import annotations

from bench.framework import Benchmark

BENCHMARK = Benchmark(
    name="telemetry",
    title="in-process invoke (the invoke benchmark's command, default middleware) with "
    "telemetry off, on, and log context only",
    baseline="telemetry off",
    target="no measurable overhead when telemetry is not configured: the default (auto, "
    "OpenTelemetry API installed, no SDK) within 1.1x of telemetry=False",
)

_S = "bench.subjects.telemetry"

BENCHMARK.add(
    "telemetry off",
    f"{_S}:off",
    note="`Service(..., telemetry=False)`: the runtime holds no telemetry.",
)
BENCHMARK.add(
    "default: API installed, no SDK",
    f"{_S}:auto_without_sdk",
    max_ratio=1.1,
    note="`Service(...)` with default settings (`telemetry.enabled` unset: on only when an "
    "OpenTelemetry SDK provider is installed; none is).",
)
BENCHMARK.add(
    "log context only",
    f"{_S}:log_context",
    note='`telemetry={"log_context": True}`: each handler run sets the context variable '
    "`MessageContextFilter` reads; no spans, no metrics.",
)
BENCHMARK.add(
    "OpenTelemetry on (SDK)",
    f"{_S}:on",
    note="`OtelTelemetry` with SDK providers: an `invoke` span (batch processor, dropping "
    "exporter), the succeeded counter and the duration histogram per invoke.",
)
