"""Middleware: an ordered pipeline around every handler (and around publishing).

A middleware is any callable ``async (envelope, call_next) -> object`` that awaits
``call_next(envelope)`` to continue and returns what it returned (the handler's raw return
value), or raises. Chains are composed once per message type when the service starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from momentum.contracts.envelope import Envelope

Next = Callable[[Envelope], Awaitable[Any]]
Middleware = Callable[[Envelope, Next], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class MiddlewareRegistration:
    """A middleware and the message types it wraps.

    Attributes:
        middleware: The middleware callable.
        message_types: Only these types (and subclasses), or every type when ``None``.
    """

    middleware: Middleware
    message_types: tuple[type, ...] | None = None

    def applies_to(self, message_type: type) -> bool:
        """Whether this middleware wraps handlers of ``message_type``."""
        return self.message_types is None or issubclass(message_type, self.message_types)


def compose(middlewares: Iterable[Middleware], terminal: Next) -> Next:
    """Nest ``middlewares`` (first = outermost) around ``terminal``.

    The built-in trio (exception logging, metrics, slow-handler warning, in that order, as
    the service installs it) runs as one link: one coroutine frame and one pair of clock
    readings per message instead of three frames and two pairs, with the same effects.
    """
    listed = list(middlewares)
    call = terminal
    index = len(listed)
    while index > 0:
        start = index - 3
        if start >= 0 and _is_builtin_trio(listed[start:index]):
            logging_mw, metrics, slow = listed[start:index]
            call = _builtin_link(logging_mw, metrics, slow, call)  # type: ignore[arg-type]
            index = start
            continue
        index -= 1
        call = _link(listed[index], call)
    return call


def _link(middleware: Middleware, call_next: Next) -> Next:
    def call(envelope: Envelope) -> Awaitable[Any]:
        return middleware(envelope, call_next)

    return call


def _is_builtin_trio(middlewares: list[Middleware]) -> bool:
    kinds = [type(m) for m in middlewares]
    return kinds == [ExceptionLoggingMiddleware, MetricsMiddleware, SlowHandlerMiddleware]


def _builtin_link(
    logging_mw: ExceptionLoggingMiddleware,
    metrics: MetricsMiddleware,
    slow: SlowHandlerMiddleware,
    call_next: Next,
) -> Next:
    """The three built-in middlewares as one: what each does, in the order they nest."""
    clock = time.perf_counter
    record = metrics.record

    async def call(envelope: Envelope) -> Any:
        start = clock()
        try:
            result = await call_next(envelope)
        except BaseException as exc:
            elapsed = clock() - start
            if elapsed > slow.threshold_seconds:
                slow.warn(envelope, elapsed)
            record(type(envelope.message), elapsed, failed=True)
            if isinstance(exc, Exception):
                logging_mw.log(envelope, exc)
            raise
        elapsed = clock() - start
        if elapsed > slow.threshold_seconds:
            slow.warn(envelope, elapsed)
        record(type(envelope.message), elapsed, failed=False)
        return result

    return call


class ExceptionLoggingMiddleware:
    """Logs every exception a handler raises (with message type and id), then re-raises."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("momentum.handlers")

    async def __call__(self, envelope: Envelope, call_next: Next) -> Any:
        """Run the rest of the chain; log and re-raise what it raises."""
        try:
            return await call_next(envelope)
        except Exception as exc:
            self.log(envelope, exc)
            raise

    def log(self, envelope: Envelope, exc: Exception) -> None:
        """Log that handling ``envelope`` raised ``exc`` (with the traceback)."""
        self.logger.error(
            "handling %s %s (attempt %d) failed: %s: %s",
            envelope.message_type,
            envelope.message_id,
            envelope.attempts,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )


@dataclass(slots=True)
class MessageStats:
    """Counters for one message type.

    Attributes:
        count: Handler executions finished (successes and failures).
        failures: Executions that raised.
        total_seconds: Summed wall-clock duration.
        max_seconds: Longest single execution.
    """

    count: int = 0
    failures: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0

    @property
    def mean_seconds(self) -> float:
        """Average duration, 0 when nothing ran yet."""
        return self.total_seconds / self.count if self.count else 0.0


@dataclass
class MetricsMiddleware:
    """Per-message-type count, failures and duration of handler executions.

    Attributes:
        stats: Counters keyed by message class.
    """

    stats: dict[type, MessageStats] = field(default_factory=dict)

    async def __call__(self, envelope: Envelope, call_next: Next) -> Any:
        """Run the rest of the chain and record its duration and outcome."""
        start = time.perf_counter()
        failed = True
        try:
            result = await call_next(envelope)
            failed = False
            return result
        finally:
            self.record(type(envelope.message), time.perf_counter() - start, failed=failed)

    def record(self, message_type: type, elapsed: float, *, failed: bool) -> None:
        """Count one handler execution of ``message_type`` that took ``elapsed`` seconds."""
        stats = self.stats.get(message_type)
        if stats is None:
            stats = self.stats[message_type] = MessageStats()
        stats.count += 1
        stats.total_seconds += elapsed
        if elapsed > stats.max_seconds:
            stats.max_seconds = elapsed
        if failed:
            stats.failures += 1


class SlowHandlerMiddleware:
    """Warns when handling one message takes longer than ``threshold_seconds``."""

    def __init__(self, threshold_seconds: float, logger: logging.Logger | None = None) -> None:
        self.threshold_seconds = threshold_seconds
        self.logger = logger or logging.getLogger("momentum.handlers")

    async def __call__(self, envelope: Envelope, call_next: Next) -> Any:
        """Run the rest of the chain; warn if it took longer than the threshold."""
        start = time.perf_counter()
        try:
            return await call_next(envelope)
        finally:
            elapsed = time.perf_counter() - start
            if elapsed > self.threshold_seconds:
                self.warn(envelope, elapsed)

    def warn(self, envelope: Envelope, elapsed: float) -> None:
        """Log that handling ``envelope`` took ``elapsed`` seconds (over the threshold)."""
        self.logger.warning(
            "slow handler: %s %s took %.3f s (threshold %.3f s)",
            envelope.message_type,
            envelope.message_id,
            elapsed,
            self.threshold_seconds,
        )
