"""FastStream candidate of the invoke benchmark: ``broker.request`` under ``TestKafkaBroker``.

``TestKafkaBroker`` replaces the Kafka connection with an in-memory fake that calls the
subscriber directly, so no broker is needed. ``request`` is the closest thing to an invoke
with a response: it encodes the message, runs the subscriber (parsing, validation,
``Depends`` injection) and returns the encoded response, which we decode. The call records
the test broker keeps for assertions (calls, and log lines sent to a ``MagicMock``) are
cleared after every batch; their cost per call is included, as in any test using it.
Dependencies are ``async def`` providers: a sync provider (or injecting the broker through
``Context``) is run in a worker thread by fast-depends, which makes every call much slower.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from unittest.mock import Mock

from faststream import Depends
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pydantic import BaseModel

from bench.framework import Run
from bench.subjects.invoke_domain import NAME, TOPIC, Notifier, Repo, Thing, check

REPO = Repo()
NOTIFIER = Notifier()


class CreateThing(BaseModel):
    """The message (FastStream validates it with pydantic)."""

    name: str


async def _repo() -> Repo:
    return REPO


async def _notifier() -> Notifier:
    return NOTIFIER


async def handle(
    cmd: CreateThing,
    repo: Annotated[Repo, Depends(_repo)],
    notifier: Annotated[Notifier, Depends(_notifier)],
) -> Thing:
    """Two injected parameters."""
    return repo.add(cmd.name)


def _forget_calls(broker: KafkaBroker, subscriber: Any) -> None:
    """Drop what the test broker recorded (every call, every log line as a mock call).

    A test suite starts a fresh test broker per test; without this the records of thousands
    of calls would pile up round after round and make garbage collection ever slower.
    """
    subscriber.refresh(with_mock=True)
    log_mock = getattr(getattr(broker.config.logger, "logger", None), "logger", None)
    if isinstance(log_mock, Mock):
        log_mock.reset_mock()


@asynccontextmanager
async def request() -> AsyncIterator[Run]:
    """``await broker.request(cmd, topic)`` then ``await response.decode()``."""
    broker = KafkaBroker()
    subscriber = broker.subscriber(TOPIC)(handle)
    async with TestKafkaBroker(broker) as test_broker:
        cmd = CreateThing(name=NAME)
        check(await (await test_broker.request(cmd, TOPIC)).decode(), {"name": NAME})

        async def run(n: int) -> None:
            for _ in range(n):
                response = await test_broker.request(cmd, TOPIC)
                await response.decode()
            _forget_calls(broker, subscriber)

        yield run
