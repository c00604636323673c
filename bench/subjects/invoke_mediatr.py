"""mediatr candidate of the invoke benchmark: ``await mediator.send_async(request)``.

mediatr keeps handlers in a global registry and builds the handler object per request with
``handler_class_manager``; ours passes the two dependencies to the constructor (mediatr has
no container of its own). No ``from __future__ import annotations`` here: mediatr reads the
request type from the annotation of ``handle``'s first parameter.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mediatr import Mediator  # type: ignore[import-untyped,unused-ignore]

from bench.framework import Run
from bench.subjects.invoke_domain import NAME, Notifier, Repo, Thing, check

REPO = Repo()
NOTIFIER = Notifier()


@dataclass(frozen=True)
class CreateThing:
    """The request."""

    name: str


class CreateThingHandler:
    """Two constructor parameters, supplied by the handler class manager."""

    def __init__(self, repo: Repo, notifier: Notifier) -> None:
        self.repo = repo
        self.notifier = notifier

    async def handle(self, request: CreateThing) -> Thing:
        """Create the thing."""
        return self.repo.add(request.name)


Mediator.register_handler(CreateThingHandler)


def _build(handler_class: type, is_behavior: bool = False) -> Any:
    return handler_class(REPO, NOTIFIER)


@asynccontextmanager
async def send_async() -> AsyncIterator[Run]:
    """``Mediator(handler_class_manager=...)`` and ``send_async``; no behaviors."""
    mediator = Mediator(handler_class_manager=_build)
    cmd = CreateThing(NAME)
    check(await mediator.send_async(cmd))

    async def run(n: int) -> None:
        for _ in range(n):
            await mediator.send_async(cmd)

    yield run
