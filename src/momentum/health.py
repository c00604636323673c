"""Health of a running service, and a tiny HTTP endpoint serving it (``momentum run``).

``await service.health()`` reports whether the brokers and the store answer, the store's
backlog, oldest pending age (the relay lag), dead letters and inbox size, the relay's and the
local queues' progress, the circuit breaker's state, the transport's assignment and its back
pressure (paused partitions, buffered records).
``serve_health`` answers:

- ``GET /health``: that report as JSON (HTTP 200 when healthy, 503 otherwise);
- ``GET /health/ready`` (readiness): 200 while the service runs and its brokers and store
  answer, else 503 with the reasons;
- ``GET /health/live`` (liveness, also ``/live``): 200 while the process serves requests;
- ``GET /metrics``: the OpenTelemetry metrics in Prometheus' text format, when a Prometheus
  reader is installed (``momentum run`` installs one; the ``otel`` extra).

The server is a few lines on ``asyncio.start_server``: no web framework is needed for a few
fixed GET routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from momentum.contracts.errors import MomentumError
from momentum.runtime.ports import ConnectionChecking

CONNECTION_TIMEOUT = 2.0
"""Seconds a health check waits for the brokers' metadata."""

if TYPE_CHECKING:
    from momentum.service import Service


@dataclass(frozen=True)
class HealthReport:
    """A snapshot of a service's health.

    Attributes:
        service: Service name.
        status: ``ok``, ``degraded`` (a failing store or relay, an open circuit) or ``stopped``.
        problems: What makes it degraded, in words.
        ready: Whether the service runs and its brokers and store answer (readiness).
        transport: Transport name, if any.
        transport_reachable: Whether the brokers answered a metadata request (``None``:
            the transport cannot tell, or there is none).
        circuit: Circuit breaker state (``closed``, ``open``, ``half-open``), if configured.
        store: Backlog, oldest pending age in seconds (how far the relay lags), dead letters
            and inbox size, when the service has a store.
        relay: Rows relayed, failed and dead-lettered, and the relay's last error.
        local_in_flight: Durable local queue rows claimed and not finished.
        pending: In-process work queued, running or parked.
        assignment: ``topic[partition]`` handled by this process (Kafka).
        paused: ``topic[partition]`` whose fetching is paused for back pressure (its
            unfinished records reached ``max_buffered_per_partition``), when the transport
            reports it.
        buffered: Records received by the transport and not finished yet (queued, running,
            parked or being dead-lettered), when the transport reports it.
    """

    service: str
    status: str
    problems: list[str]
    ready: bool = False
    transport: str | None = None
    transport_reachable: bool | None = None
    circuit: str | None = None
    store: dict[str, Any] | None = None
    relay: dict[str, Any] | None = None
    local_in_flight: int = 0
    pending: int = 0
    assignment: list[str] | None = None
    paused: list[str] | None = None
    buffered: int | None = None

    @property
    def healthy(self) -> bool:
        """Whether the status is ``ok``."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-friendly values."""
        return asdict(self)


async def health_of(service: Service) -> HealthReport:
    """The health of ``service`` now (a stopped service reports ``stopped``)."""
    if not service.running:
        return HealthReport(service.name, "stopped", ["not running"])
    runtime = service.runtime
    problems: list[str] = []
    unready: list[str] = []
    transport = runtime.transport
    check = (
        asyncio.ensure_future(transport.check_connection(CONNECTION_TIMEOUT))
        if isinstance(transport, ConnectionChecking)
        else None
    )
    store: dict[str, Any] | None = None
    if runtime.store is not None:
        try:
            stats = await runtime.store.stats()
            store = asdict(stats)
        except MomentumError as exc:
            problems.append(f"store: {exc}")
            unready.append(f"store: {exc}")
            store = {"error": str(exc)}
    reachable: bool | None = None
    if check is not None:
        try:
            await check
            reachable = True
        except MomentumError as exc:
            reachable = False
            problems.append(f"transport: {exc}")
            unready.append(f"transport: {exc}")
    relay: dict[str, Any] | None = None
    if runtime.relay is not None:
        r = runtime.relay
        relay = {
            "relayed": r.relayed,
            "failed": r.failed,
            "dead_lettered": r.dead_lettered,
            "last_error": r.last_error,
        }
        if r.last_error:
            problems.append(f"relay: {r.last_error}")
    queues = runtime.durable_queues
    if queues is not None and queues.last_error:
        problems.append(f"local queues: {queues.last_error}")
    circuit = None
    if runtime.circuit_breaker is not None:
        circuit = runtime.circuit_breaker.state.value
        if circuit != "closed":
            problems.append(f"circuit {circuit}")
    assignment = getattr(transport, "assignment", None)
    paused = getattr(transport, "paused_partitions", None)
    buffered = getattr(transport, "buffered", None)
    return HealthReport(
        service=service.name,
        status="degraded" if problems else "ok",
        problems=problems,
        ready=not unready,
        transport=transport.name if transport is not None else None,
        transport_reachable=reachable,
        circuit=circuit,
        store=store,
        relay=relay,
        local_in_flight=queues.in_flight if queues is not None else 0,
        pending=runtime.pending.count,
        assignment=[f"{t}[{p}]" for t, p in assignment] if assignment is not None else None,
        paused=[f"{t}[{p}]" for t, p in paused] if paused is not None else None,
        buffered=buffered if isinstance(buffered, int) else None,
    )


async def _route(service: Service, path: str) -> tuple[int, bytes, str]:
    """Status, body and content type of ``GET path``."""
    code: int
    body: Any
    if path in ("/live", "/health/live"):
        code, body = 200, {"status": "alive"}
    elif path == "/health/ready":
        report = await health_of(service)
        reasons = [p for p in report.problems if p.startswith(("store:", "transport:"))]
        if not service.running:
            reasons = ["not running"]
        code = 200 if report.ready else 503
        body = {"status": "ready" if report.ready else "unready", "problems": reasons}
    elif path == "/health":
        report = await health_of(service)
        code, body = (200 if report.healthy else 503), report.to_dict()
    elif path == "/metrics":
        text = _metrics()
        if text is None:
            code, body = 404, {"error": "no Prometheus reader: install momentum-messaging[otel]"}
        else:
            return 200, text[0], text[1]
    else:
        code, body = 404, {"error": "GET /health, /health/ready, /health/live or /metrics"}
    return code, json.dumps(body).encode(), "application/json"


def _metrics() -> tuple[bytes, str] | None:
    try:
        from momentum.otel.prometheus import exposition
    except ImportError:
        return None
    return exposition()


async def serve_health(service: Service, host: str, port: int) -> asyncio.Server:
    """Serve the health routes (see the module) for ``service`` on ``host:port``."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 10)
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass  # headers are not needed
            parts = request.decode("latin-1").split()
            path = parts[1] if len(parts) >= 2 else ""
            if parts[:1] != ["GET"]:
                code, payload, content_type = 405, b'{"error": "only GET"}', "application/json"
            else:
                code, payload, content_type = await _route(service, path)
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(
                code, "Service Unavailable"
            )
            writer.write(
                f"HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(answer, host, port)
