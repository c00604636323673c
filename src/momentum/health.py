"""Health of a running service, and a tiny HTTP endpoint serving it (``momentum run``).

``await service.health()`` reports the store's backlog, oldest pending age (the relay lag),
dead letters and inbox size, the relay's and the local queues' progress, the circuit
breaker's state, the transport's assignment and its back pressure (paused partitions,
buffered records). ``serve_health`` answers ``GET /health``
with that report as JSON (HTTP 200 when healthy, 503 otherwise) and ``GET /live`` with 200
while the process runs. The server is a few lines on ``asyncio.start_server``: no web
framework is needed for two fixed GET routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from momentum.contracts.errors import MomentumError

if TYPE_CHECKING:
    from momentum.service import Service


@dataclass(frozen=True)
class HealthReport:
    """A snapshot of a service's health.

    Attributes:
        service: Service name.
        status: ``ok``, ``degraded`` (a failing store or relay, an open circuit) or ``stopped``.
        problems: What makes it degraded, in words.
        transport: Transport name, if any.
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
    transport: str | None = None
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
    store: dict[str, Any] | None = None
    if runtime.store is not None:
        try:
            stats = await runtime.store.stats()
            store = asdict(stats)
        except MomentumError as exc:
            problems.append(f"store: {exc}")
            store = {"error": str(exc)}
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
    transport = runtime.transport
    assignment = getattr(transport, "assignment", None)
    paused = getattr(transport, "paused_partitions", None)
    buffered = getattr(transport, "buffered", None)
    return HealthReport(
        service=service.name,
        status="degraded" if problems else "ok",
        problems=problems,
        transport=transport.name if transport is not None else None,
        circuit=circuit,
        store=store,
        relay=relay,
        local_in_flight=queues.in_flight if queues is not None else 0,
        pending=runtime.pending.count,
        assignment=[f"{t}[{p}]" for t, p in assignment] if assignment is not None else None,
        paused=[f"{t}[{p}]" for t, p in paused] if paused is not None else None,
        buffered=buffered if isinstance(buffered, int) else None,
    )


async def serve_health(service: Service, host: str, port: int) -> asyncio.Server:
    """Serve ``GET /health`` and ``GET /live`` for ``service`` on ``host:port``."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 10)
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass  # headers are not needed
            parts = request.decode("latin-1").split()
            path = parts[1] if len(parts) >= 2 else ""
            if parts[:1] != ["GET"]:
                code, body = 405, {"error": "only GET"}
            elif path == "/live":
                code, body = 200, {"status": "alive"}
            elif path == "/health":
                report = await health_of(service)
                code, body = (200 if report.healthy else 503), report.to_dict()
            else:
                code, body = 404, {"error": "GET /health or /live"}
            payload = json.dumps(body).encode()
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(
                code, "Service Unavailable"
            )
            writer.write(
                f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n"
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
