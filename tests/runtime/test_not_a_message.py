"""The bus refuses what is not a message (None, a dict, a class...) with InvalidMessageError."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from momentum import Command, InvalidMessageError, MessageBus, MomentumError, Service, event_topic
from momentum.testing import InMemoryBroker, InMemoryTransport


@event_topic("pings", domain="Checks")
@dataclass(frozen=True)
class Pinged:
    n: int


@dataclass(frozen=True)
class Nobody:
    """An event nobody handles: publishing it is fine (and does nothing)."""

    n: int


@dataclass(frozen=True)
class Ping(Command[int]):
    n: int


async def on_ping(command: Ping) -> int:
    return command.n


async def on_pinged(event: Pinged) -> None:
    pass


Operation = Callable[[MessageBus, Any], Awaitable[Any]]
OPERATIONS: dict[str, Operation] = {
    "publish": lambda bus, m: bus.publish(m),
    "send": lambda bus, m: bus.send(m),
    "publish_many": lambda bus, m: bus.publish_many([Pinged(1), m]),
    "invoke": lambda bus, m: bus.invoke(m),
    "schedule": lambda bus, m: bus.schedule(m, delay=0),
}
VERB = {"publish_many": "publish"}


async def never() -> None:
    pass


def values() -> list[tuple[str, Any, str]]:
    coroutine = never()
    coroutine.close()
    return [
        ("None", None, "None"),
        ("object", object(), "a object"),
        ("dict", {"orderId": 1, "password": "secret"}, "a dict"),
        ("str", "OrderPlaced", "a str"),
        ("int", 7, "a int"),
        ("list", [Pinged(1)], "a list"),
        ("class", Pinged, "the class Pinged (an instance is: Pinged(...))"),
        ("coroutine", coroutine, "a coroutine (is an await missing?)"),
    ]


def make_service(transport: bool) -> Service:
    service = Service(
        "checks", "Checks", transport=InMemoryTransport(InMemoryBroker()) if transport else None
    )
    service.add_handler(on_ping)
    service.add_handler(on_pinged)
    return service


@pytest.mark.parametrize("transport", [False, True], ids=["no-transport", "in-memory-transport"])
@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize(("kind", "value", "got"), values(), ids=lambda v: str(v)[:12])
async def test_what_is_not_a_message_is_refused(
    transport: bool, operation: str, kind: str, value: Any, got: str
) -> None:
    service = make_service(transport)
    async with service, service.tracked() as session:
        with pytest.raises(InvalidMessageError) as info:
            await OPERATIONS[operation](service.bus, value)
        assert await service.bus.invoke(Ping(1)) == 1  # the bus keeps working
    message = str(info.value)
    assert message.startswith(
        f"Cannot {VERB.get(operation, operation)} {got}: it is not a message."
    )
    assert "frozen dataclass or pydantic model" in message and "secret" not in message
    assert isinstance(info.value, MomentumError) and isinstance(info.value, TypeError)
    assert session.dead_lettered == []


@pytest.mark.parametrize("operation", ["publish", "send", "publish_many"])
async def test_a_handler_bus_refuses_it_too(operation: str) -> None:
    failures: list[BaseException] = []

    async def on_trigger(event: Nobody, bus: MessageBus) -> None:
        try:
            await OPERATIONS[operation](bus, None)
        except InvalidMessageError as exc:
            failures.append(exc)

    service = Service("checks", "Checks")
    service.add_handler(on_trigger)
    service.add_handler(on_ping)
    async with service, service.tracked():
        await service.bus.publish(Nobody(1))
    assert len(failures) == 1 and "it is not a message" in str(failures[0])


async def test_an_event_nobody_handles_is_still_published_quietly() -> None:
    service = make_service(transport=False)
    async with service, service.tracked() as session:
        await service.bus.publish(Nobody(1))
        await service.bus.publish_many([Nobody(2), Nobody(3)])
    assert [a.kind for a in session.activities].count("no-route") == 3
    await asyncio.sleep(0)
