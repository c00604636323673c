"""python-cqrs candidates of the invoke benchmark: ``await mediator.send(request)``.

Wired as its README shows: a ``di.Container`` binding the two services, a ``RequestMap``
binding the request to its handler class (resolved through the container per request),
``bootstrap`` for the defaults (which always adds ``LoggingMiddleware``) and
``setup_mediator`` with an empty middleware list for the variant without middleware.
"""

import typing
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import cqrs
import di
from cqrs.bootstrap import requests as bootstrap
from cqrs.container.di import DIContainer
from di.dependent import Dependent

from bench.framework import Run
from bench.subjects.invoke_domain import NAME, Notifier, Repo, Thing, check

REPO = Repo()
NOTIFIER = Notifier()


class ThingCreated(cqrs.Response):
    """The response (python-cqrs responses are its own dataclass or pydantic models)."""

    thing: Thing


class CreateThing(cqrs.Request[ThingCreated]):
    """The request."""

    name: str


class CreateThingHandler(cqrs.RequestHandler[CreateThing, ThingCreated]):
    """Two injected constructor parameters, resolved by the container."""

    def __init__(self, repo: Repo, notifier: Notifier) -> None:
        self.repo = repo
        self.notifier = notifier

    async def handle(self, request: CreateThing) -> ThingCreated:
        """Create the thing."""
        return ThingCreated(thing=self.repo.add(request.name))


def _repo() -> Repo:
    return REPO


def _notifier() -> Notifier:
    return NOTIFIER


def _container() -> di.Container:
    container = di.Container()
    container.bind(di.bind_by_type(Dependent(_repo, scope="request"), Repo))
    container.bind(di.bind_by_type(Dependent(_notifier, scope="request"), Notifier))
    return container


def _commands(mapper: cqrs.RequestMap[typing.Any]) -> None:
    mapper.bind(CreateThing, CreateThingHandler)


@asynccontextmanager
async def _send(mediator: cqrs.RequestMediator) -> AsyncIterator[Run]:
    cmd = CreateThing(name=NAME)
    response = typing.cast(ThingCreated, await mediator.send(cmd))
    check(response.thing)

    async def run(n: int) -> None:
        for _ in range(n):
            await mediator.send(cmd)

    yield run


def send_defaults() -> AbstractAsyncContextManager[Run]:
    """``bootstrap(...)`` defaults: the logging middleware is always added."""
    return _send(bootstrap.bootstrap(di_container=_container(), commands_mapper=_commands))


def send_no_middleware() -> AbstractAsyncContextManager[Run]:
    """``setup_mediator(..., middlewares=[])``: no middleware at all."""
    container = DIContainer()
    container.attach_external_container(_container())
    emitter = bootstrap.setup_event_emitter(container)
    mediator = bootstrap.setup_mediator(
        emitter, container, middlewares=[], commands_mapper=_commands
    )
    return _send(mediator)
