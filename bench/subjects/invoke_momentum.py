"""momentum candidates of the invoke benchmark, and the bare-await baseline.

The baseline awaits the very handler momentum dispatches to, with its two dependencies
passed directly, so the ratio is exactly momentum's dispatch overhead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bench.framework import Run
from bench.subjects.invoke_domain import NAME, Repo, Thing, check
from momentum import Command, MessageBus, Result, Service


@dataclass(frozen=True)
class CreateThing(Command[Result[Thing]]):
    """The invoked command."""

    name: str


async def handle(cmd: CreateThing, repo: Repo, bus: MessageBus) -> Result[Thing]:
    """Two injected parameters: a registered service and the message-bound bus."""
    return Result.ok(repo.add(cmd.name))


@asynccontextmanager
async def _service(*, middleware: bool, **options: Any) -> AsyncIterator[Service]:
    if not middleware:
        options["middleware"] = {"enabled": False}
    service = Service("bench", "Bench", **options)
    service.register(Repo, Repo())
    service.add_handler(handle)
    async with service:
        yield service


@asynccontextmanager
async def bare() -> AsyncIterator[Run]:
    """``await handle(cmd, repo, bus)``: no framework at all."""
    async with _service(middleware=False) as service:
        cmd, repo, bus = CreateThing(NAME), Repo(), service.bus
        check((await handle(cmd, repo, bus)).value)

        async def run(n: int) -> None:
            for _ in range(n):
                await handle(cmd, repo, bus)

        yield run


@asynccontextmanager
async def invoking(*, middleware: bool, **options: Any) -> AsyncIterator[Run]:
    """``run(n)``: ``n`` invokes of the command on a service made with ``options``."""
    async with _service(middleware=middleware, **options) as service:
        cmd, bus = CreateThing(NAME), service.bus
        check((await bus.invoke(cmd)).value)

        async def run(n: int) -> None:
            for _ in range(n):
                await bus.invoke(cmd)

        yield run


def invoke_no_middleware() -> AbstractAsyncContextManager[Run]:
    """``await service.bus.invoke(cmd)`` with ``middleware={"enabled": False}``."""
    return invoking(middleware=False)


def invoke_default_middleware() -> AbstractAsyncContextManager[Run]:
    """``await service.bus.invoke(cmd)`` with default settings (built-in middleware on)."""
    return invoking(middleware=True)
