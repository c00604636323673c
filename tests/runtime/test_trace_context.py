"""W3C trace context (``traceparent``/``tracestate``) carried to every message a handler causes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from momentum import Command, Envelope, MessageBus, Service

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"


@dataclass(frozen=True)
class Started:
    run: int


@dataclass(frozen=True)
class Published:
    run: int


@dataclass(frozen=True)
class Sent(Command[None]):
    run: int


@dataclass(frozen=True)
class Cascaded:
    run: int


@dataclass(frozen=True)
class Batched:
    run: int


@dataclass(frozen=True)
class Scheduled:
    run: int


@dataclass(frozen=True)
class Invoked(Command[int]):
    run: int


@dataclass(frozen=True)
class Grandchild:
    run: int


def make_service(**settings: object) -> tuple[Service, dict[str, dict[str, str]]]:
    """A service whose handlers cause one message of each kind and record what they get."""
    seen: dict[str, dict[str, str]] = {}

    def keep(message: object, envelope: Envelope) -> None:
        seen[type(message).__name__] = dict(envelope.headers)

    async def on_started(event: Started, bus: MessageBus) -> Cascaded:
        await bus.publish(Published(event.run))
        await bus.send(Sent(event.run))
        await bus.publish_many([Batched(event.run)])
        await bus.schedule(Scheduled(event.run), delay=0)
        assert await bus.invoke(Invoked(event.run)) == event.run
        return Cascaded(event.run)

    async def on_published(event: Published, envelope: Envelope) -> Grandchild:
        keep(event, envelope)
        return Grandchild(event.run)  # two hops from the traced message

    async def on_sent(command: Sent, envelope: Envelope) -> None:
        keep(command, envelope)

    async def on_cascaded(event: Cascaded, envelope: Envelope) -> None:
        keep(event, envelope)

    async def on_batched(event: Batched, envelope: Envelope) -> None:
        keep(event, envelope)

    async def on_scheduled(event: Scheduled, envelope: Envelope) -> None:
        keep(event, envelope)

    async def on_invoked(command: Invoked, envelope: Envelope) -> int:
        keep(command, envelope)
        return command.run

    async def on_grandchild(event: Grandchild, envelope: Envelope) -> None:
        keep(event, envelope)

    service = Service("tracer", "Tracing", **settings)
    for handler in (
        on_started,
        on_published,
        on_sent,
        on_cascaded,
        on_batched,
        on_scheduled,
        on_invoked,
        on_grandchild,
    ):
        service.add_handler(handler)
    return service, seen


CAUSED = ["Published", "Sent", "Cascaded", "Batched", "Scheduled", "Invoked", "Grandchild"]


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_trace_context_reaches_every_caused_message(store: str, tmp_path: Path) -> None:
    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path / 'trace.db'}"
    service, seen = make_service(database_url=url)
    trace = {"traceparent": TRACEPARENT, "tracestate": TRACESTATE}
    async with service, service.tracked() as session:
        await service.bus.publish(Started(1), headers=trace)
    assert sorted(seen) == sorted(CAUSED)
    for name in CAUSED:
        assert seen[name].get("traceparent") == TRACEPARENT, name
        assert seen[name].get("tracestate") == TRACESTATE, name
    assert session.dead_lettered == []


async def test_other_headers_are_not_inherited_and_untraced_messages_stay_untraced() -> None:
    service, seen = make_service()
    async with service, service.tracked():
        await service.bus.publish(Started(2), headers={"x-request": "abc"})
    assert sorted(seen) == sorted(CAUSED)
    assert all(headers == {} for headers in seen.values())
