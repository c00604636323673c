"""Injection by annotation: bus, envelope, logger, tenant, singletons, per-message factories."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from momentum import (
    Command,
    Envelope,
    HandlerConfigurationError,
    MessageBus,
    Service,
    TenantContext,
    tenant_scope,
)


@dataclass(frozen=True)
class Ping(Command[dict[str, object]]):
    tenant_id: str | None = None


class Clock:
    def now(self) -> int:
        return 42


class Session:
    instances = 0

    def __init__(self, events: list[str]) -> None:
        Session.instances += 1
        self.id = Session.instances
        self.events = events


class Unregistered:
    pass


async def handle_ping(
    ping: Ping,
    bus: MessageBus,
    envelope: Envelope,
    log: logging.Logger,
    tenant: TenantContext,
    clock: Clock,
    session: Session,
    *,
    again: Session,
    optional: Unregistered | None = None,
) -> dict[str, object]:
    return {
        "bus_bound_to": bus.envelope.message if bus.envelope else None,
        "envelope_message": envelope.message,
        "logger": log.name,
        "tenant": tenant.tenant_id,
        "clock": clock.now(),
        "same_session": session is again,
        "session": session.id,
        "optional": optional,
    }


@dataclass(frozen=True)
class Fail(Command[None]):
    pass


@dataclass(frozen=True)
class Who(Command[str]):
    pass


class Repo:
    def __init__(self, clock: Clock, tenant: TenantContext) -> None:
        self.text = f"{clock.now()}@{tenant.tenant_id}"


def make(events: list[str], factory: object) -> Service:
    service = Service("inject", "Shop")
    service.add_handler(handle_ping)
    service.register(Clock, Clock())
    service.register(Session, factory=factory)  # type: ignore[arg-type]
    return service


@pytest.mark.parametrize("kind", ["function", "generator", "async generator", "async function"])
async def test_every_parameter_kind_is_injected(kind: str) -> None:
    events: list[str] = []

    def plain() -> Session:
        return Session(events)

    async def coroutine() -> Session:
        return Session(events)

    def generator() -> Iterator[Session]:
        session = Session(events)
        yield session
        events.append(f"closed {session.id}")

    async def async_generator() -> AsyncIterator[Session]:
        session = Session(events)
        yield session
        events.append(f"closed {session.id}")

    factory = {
        "function": plain,
        "async function": coroutine,
        "generator": generator,
        "async generator": async_generator,
    }[kind]
    service = make(events, factory)
    async with service:
        first = await service.bus.invoke(Ping("t-1"))
        with tenant_scope("t-scope"):
            second = await service.bus.invoke(Ping("t-1"))
    assert first["bus_bound_to"] == Ping("t-1")
    assert first["envelope_message"] == Ping("t-1")
    assert first["logger"] == __name__
    assert first["tenant"] == "t-1"
    assert second["tenant"] == "t-scope"  # an explicit scope wins over the message field
    assert first["clock"] == 42
    assert first["same_session"] is True  # one instance per message, shared
    assert second["session"] != first["session"]  # a new one for the next message
    assert first["optional"] is None
    if "generator" in kind:
        assert events == [f"closed {first['session']}", f"closed {second['session']}"]


async def test_factory_cleanup_runs_when_the_handler_fails() -> None:
    events: list[str] = []

    def generator() -> Iterator[Session]:
        try:
            yield Session(events)
        except RuntimeError as exc:
            events.append(f"saw {exc}")
            raise
        finally:
            events.append("closed")

    async def handle_fail(command: Fail, session: Session) -> None:
        raise RuntimeError("bad")

    service = Service("inject", "Shop")
    service.register(Session, factory=generator)
    service.add_handler(handle_fail)
    async with service:
        with pytest.raises(RuntimeError):
            await service.bus.invoke(Fail())
    assert events == ["saw bad", "closed"]


@dataclass(frozen=True)
class Needs(Command[None]):
    pass


async def handle_needs(command: Needs, thing: Unregistered) -> None:
    raise AssertionError("never runs")


async def test_unknown_parameter_type_fails_at_startup_with_location() -> None:
    service = Service("inject", "Shop")
    service.add_handler(handle_needs)
    with pytest.raises(HandlerConfigurationError) as info:
        await service.start()
    text = str(info.value)
    assert "handle_needs" in text and "test_injection.py" in text
    assert "'thing'" in text and "Unregistered" in text and "service.register" in text
    assert not service.running


async def test_factories_can_depend_on_other_services() -> None:
    def make_repo(clock: Clock, tenant: TenantContext) -> Repo:
        return Repo(clock, tenant)

    async def handle_who(command: Who, repo: Repo) -> str:
        return repo.text

    service = Service("inject", "Shop")
    service.register(Clock, Clock())
    service.register(Repo, factory=make_repo)
    service.add_handler(handle_who)
    async with service:
        with tenant_scope("acme"):
            assert await service.bus.invoke(Who()) == "42@acme"
