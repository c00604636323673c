"""Middleware order, per-type scoping, publishing middleware and the built-ins."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest

from momentum import Command, Envelope, Service
from momentum.runtime.middleware import Next


@dataclass(frozen=True)
class Hello(Command[str]):
    name: str


@dataclass(frozen=True)
class Other(Command[str]):
    pass


@dataclass(frozen=True)
class Greeted:
    name: str


async def handle_hello(command: Hello) -> tuple[str, Greeted]:
    if command.name == "fail":
        raise ValueError("no")
    return f"hi {command.name}", Greeted(command.name)


async def handle_other(command: Other) -> str:
    return "other"


async def on_greeted(event: Greeted) -> None:
    pass


def recorder(log: list[str], label: str) -> Any:
    async def middleware(envelope: Envelope, call_next: Next) -> Any:
        log.append(f"{label} before {type(envelope.message).__name__}")
        result = await call_next(envelope)
        log.append(f"{label} after")
        return result

    return middleware


async def test_middleware_order_scope_and_publishing() -> None:
    log: list[str] = []
    service = Service("mw", "Shop", middleware={"enabled": False})
    for func in (handle_hello, handle_other, on_greeted):
        service.add_handler(func)
    service.use(recorder(log, "outer"))
    service.use(recorder(log, "inner"), message_types=[Hello])
    service.use_publishing(recorder(log, "publish"))
    async with service, service.tracked():
        assert await service.bus.invoke(Hello("ada")) == "hi ada"
        assert await service.bus.invoke(Other()) == "other"
    assert log[:4] == ["outer before Hello", "inner before Hello", "inner after", "outer after"]
    assert "publish before Greeted" in log
    assert log.count("outer before Other") == 1 and "inner before Other" not in log
    assert "outer before Greeted" in log  # handlers of the cascaded event are wrapped too


async def test_builtin_metrics_and_exception_logging(caplog: pytest.LogCaptureFixture) -> None:
    service = Service("mw", "Shop")
    service.add_handler(handle_hello)
    async with service:
        await service.bus.invoke(Hello("a"))
        await service.bus.invoke(Hello("b"))
        with caplog.at_level(logging.ERROR, "momentum.handlers"), pytest.raises(ValueError):
            await service.bus.invoke(Hello("fail"))
    stats = service.metrics[Hello]
    assert (stats.count, stats.failures) == (3, 1)
    assert stats.max_seconds >= stats.mean_seconds > 0
    assert any("ValueError: no" in r.getMessage() for r in caplog.records)


async def test_slow_handler_warning(caplog: pytest.LogCaptureFixture) -> None:
    service = Service("mw", "Shop", middleware={"slow_handler_seconds": 1e-9})
    service.add_handler(handle_other)
    async with service:
        with caplog.at_level(logging.WARNING, "momentum.handlers"):
            await service.bus.invoke(Other())
    assert any("slow handler" in r.getMessage() for r in caplog.records)


async def test_the_builtin_trio_runs_as_one_link_with_the_same_effects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    from momentum.runtime.middleware import (
        ExceptionLoggingMiddleware,
        MetricsMiddleware,
        SlowHandlerMiddleware,
        compose,
    )

    metrics = MetricsMiddleware()
    trio: list[Any] = [ExceptionLoggingMiddleware(), metrics, SlowHandlerMiddleware(1e-9)]
    outcomes: list[BaseException | None] = [None, ValueError("no"), asyncio.CancelledError()]

    async def terminal(envelope: Envelope) -> Any:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return "done"

    chain = compose(trio, terminal)
    assert chain.__qualname__.startswith("_builtin_link")  # fused: one coroutine frame
    envelope = Envelope(Other())
    with caplog.at_level(logging.WARNING, "momentum.handlers"):
        assert await chain(envelope) == "done"
        with pytest.raises(ValueError):
            await chain(envelope)
        with pytest.raises(asyncio.CancelledError):
            await chain(envelope)
    stats = metrics.stats[Other]
    assert (stats.count, stats.failures) == (3, 2)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("slow handler" in m for m in messages) == 3
    failed = [i for i, m in enumerate(messages) if "failed: ValueError: no" in m]
    assert len(failed) == 1 and "slow handler" in messages[failed[0] - 1]  # inner first
    # anything else in between keeps its own link
    mixed = compose([trio[0], recorder([], "x"), trio[1], trio[2]], terminal)
    assert not mixed.__qualname__.startswith("_builtin_link")
