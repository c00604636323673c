"""In-process invoke of a command with two injected parameters, answered with a response."""

from __future__ import annotations

from bench.framework import Benchmark

BENCHMARK = Benchmark(
    name="invoke",
    title="in-process invoke of a command with two injected parameters, returning a response",
    baseline="bare await",
    target=(
        "momentum `bus.invoke` of a command with two injected parameters at most 10x the bare "
        "await without middleware, at most 25x with the default middleware"
    ),
)

_S = "bench.subjects"

BENCHMARK.add(
    "bare await",
    f"{_S}.invoke_momentum:bare",
    note="`await handle(cmd, repo, bus)`: the momentum handler called directly.",
)
BENCHMARK.add(
    "momentum invoke (no middleware)",
    f"{_S}.invoke_momentum:invoke_no_middleware",
    max_ratio=10,
    note='`await service.bus.invoke(cmd)`, `middleware={"enabled": False}`; injects a '
    "registered `Repo` and the message-bound `MessageBus`.",
)
BENCHMARK.add(
    "momentum invoke (default middleware)",
    f"{_S}.invoke_momentum:invoke_default_middleware",
    max_ratio=25,
    note="as above with default settings: exception logging, metrics and slow-handler warnings.",
)
BENCHMARK.add(
    "mediatr send_async",
    f"{_S}.invoke_mediatr:send_async",
    note="handler object built per request by `handler_class_manager` with both services; "
    "no behaviors.",
)
BENCHMARK.add(
    "python-cqrs send (no middleware)",
    f"{_S}.invoke_cqrs:send_no_middleware",
    note="`setup_mediator(..., middlewares=[])`; handler class resolved per request from a "
    "`di.Container` binding both services.",
)
BENCHMARK.add(
    "python-cqrs send (bootstrap defaults)",
    f"{_S}.invoke_cqrs:send_defaults",
    note="`bootstrap(di_container=..., commands_mapper=...)`, which adds its "
    "`LoggingMiddleware` (serializes request and response even when DEBUG is off).",
)
BENCHMARK.add(
    "FastStream TestKafkaBroker request",
    f"{_S}.invoke_faststream:request",
    note="`await broker.request(cmd, topic)` + `await response.decode()` under the in-memory "
    "`TestKafkaBroker`; pydantic message, two `Depends` with async providers.",
)
