"""The telemetry port: what the runtime reports as it publishes, receives and handles messages.

A service with telemetry has one :class:`Telemetry` (the OpenTelemetry adapter,
``momentum.otel``, or :class:`LogContext` alone); without it the runtime holds ``None`` and
pays one ``is None`` test at each point below, nothing else: no span, no clock reading, no
context variable.

The points:

- :meth:`Telemetry.producing` around handing one message to its route (a transport, the
  outbox of a store transaction, a local queue): the producer span; its context is written to
  the envelope's ``traceparent``/``tracestate`` headers, so it travels on the wire (and in an
  outbox row) and the consumer's spans join the same trace.
- :meth:`Telemetry.receiving` around the delivery of one inbound transport message to every
  handler of the service (retries included).
- :meth:`Telemetry.processing` around one handler run (``invoke`` of a command or query, or a
  queued or inbound delivery), cascades included: what the handler publishes is its child.
- :meth:`Telemetry.relaying` around one outbox relay batch.
- :meth:`Telemetry.retried`, :meth:`Telemetry.dead_lettered`: outcomes of the error policy.

While a handler runs, :data:`current_message` holds its envelope and name; a log record
written meanwhile gets their :class:`MessageContext` from :class:`MessageContextFilter` (made
only when a record is written: a handler that logs nothing pays for one context variable).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from momentum.contracts.envelope import Envelope
from momentum.runtime.store import OutgoingRecord


@dataclass(frozen=True, slots=True)
class MessageContext:
    """The message a handler is running for, as log records show it.

    Attributes:
        message_id: The message id.
        message_type: The wire type name.
        correlation_id: The correlation id, if any.
        tenant: The tenant, if any.
        attempt: The handling attempt (1 on the first try).
        handler: The handler's dotted name.
    """

    message_id: str
    message_type: str
    correlation_id: str | None
    tenant: str | None
    attempt: int
    handler: str

    @classmethod
    def of(cls, envelope: Envelope, handler: str) -> MessageContext:
        """The context of ``handler`` running for ``envelope``."""
        return cls(
            envelope.message_id_text,
            envelope.message_type,
            envelope.correlation_id,
            envelope.tenant_id,
            envelope.attempts,
            handler,
        )


current_message: ContextVar[tuple[Envelope, str] | None] = ContextVar(
    "momentum_current_message", default=None
)
"""The envelope the running handler handles, and the handler's name (set only while a
service has telemetry or log context)."""

LOG_FIELDS = (
    "momentum_message_id",
    "momentum_message_type",
    "momentum_correlation_id",
    "momentum_tenant",
    "momentum_attempt",
    "momentum_handler",
)
"""The attributes :class:`MessageContextFilter` sets on a log record (``None`` outside a
handler), so a format string such as ``%(momentum_message_id)s`` works on every record."""


class MessageContextFilter(logging.Filter):
    """Adds the running handler's message to every log record (attributes :data:`LOG_FIELDS`).

    Attach it to a ``logging.Handler`` (not a logger: a handler sees the records of every
    logger, the handler's own module logger included). It never adds the payload. Records
    written outside a handler get ``None`` for each field.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Set the fields; never drops a record."""
        running = current_message.get()
        if running is None:
            for name in LOG_FIELDS:
                if not hasattr(record, name):
                    setattr(record, name, None)
            return True
        context = MessageContext.of(*running)
        record.momentum_message_id = context.message_id
        record.momentum_message_type = context.message_type
        record.momentum_correlation_id = context.correlation_id
        record.momentum_tenant = context.tenant
        record.momentum_attempt = context.attempt
        record.momentum_handler = context.handler
        return True


@runtime_checkable
class Telemetry(Protocol):
    """What the runtime reports (see the module's description of each point)."""

    def producing(
        self, envelope: Envelope, operation: str, destination: str | None, key: str | None
    ) -> AbstractContextManager[Any]:
        """Around routing ``envelope`` (``operation``: ``publish``, ``send``, ``schedule``).

        ``destination`` is the Kafka topic, or ``None`` for the local handlers.
        """
        ...

    def receiving(self, envelope: Envelope, topic: str | None) -> AbstractContextManager[Any]:
        """Around delivering an inbound transport message (read from ``topic``) to handlers."""
        ...

    def processing(
        self, envelope: Envelope, handler: str, operation: str
    ) -> AbstractContextManager[Any]:
        """Around one handler run (``operation``: ``process`` or ``invoke``)."""
        ...

    def relaying(self, records: Sequence[OutgoingRecord]) -> AbstractContextManager[Any]:
        """Around publishing one batch of outbox rows."""
        ...

    def retried(self, envelope: Envelope, handler: str) -> None:
        """A failed attempt of ``handler`` will be retried."""
        ...

    def dead_lettered(
        self,
        message_type: str | None,
        handler: str | None,
        reason: str,
        *,
        tenant: str | None = None,
    ) -> None:
        """A message (of ``tenant``) became a dead letter (``handler`` ``None``: relay failure)."""
        ...


@runtime_checkable
class ServiceTelemetry(Protocol):
    """Telemetry that wants to know the service it reports for (called once, at start)."""

    def attach(self, service: str, group: str, system: str | None) -> None:
        """``service`` name, consumer ``group``, messaging ``system`` (``kafka``, or ``None``)."""
        ...


@dataclass(frozen=True, slots=True)
class Gauges:
    """Values measured now rather than counted (``None``: not measured here).

    Attributes:
        outbox_backlog: Unsent outbox rows.
        outbox_oldest_age: Seconds the oldest due unsent row has waited (the relay's lag).
        inbox_size: Inbox rows.
        inbox_unsettled: Messages handled whose inbox rows wait for the group commit (the
            inbox's backlog: their offsets are not committed until it lands).
        dead_letters: Dead letters in the store.
        consumer_lag: Per assigned ``(topic, partition)``: records not consumed yet.
        breaker: The circuit breaker's state (``closed``, ``half-open``, ``open``).
        tenant_skipped: Inbound records of other tenants skipped since start (a service
            handling only some tenants).
    """

    outbox_backlog: int | None = None
    outbox_oldest_age: float | None = None
    inbox_size: int | None = None
    inbox_unsettled: int | None = None
    dead_letters: int | None = None
    consumer_lag: Mapping[tuple[str, int], int] = field(default_factory=dict)
    breaker: str | None = None
    tenant_skipped: int | None = None


@runtime_checkable
class GaugeTelemetry(Protocol):
    """Telemetry that reports :class:`Gauges` (refreshed by the runtime periodically)."""

    def observe(self, gauges: Gauges) -> None:
        """The latest values."""
        ...


class _Scope:
    """Sets :data:`current_message` while a handler runs."""

    __slots__ = ("_running", "_token")

    def __init__(self, envelope: Envelope, handler: str) -> None:
        self._running = (envelope, handler)

    def __enter__(self) -> None:
        self._token = current_message.set(self._running)

    def __exit__(self, *exc: object) -> None:
        current_message.reset(self._token)


class _Nothing:
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


NOTHING: AbstractContextManager[None] = _Nothing()
"""A context manager that does nothing (a point an implementation does not report)."""


class LogContext:
    """:class:`Telemetry` that only sets :data:`current_message` for log records."""

    def producing(
        self, envelope: Envelope, operation: str, destination: str | None, key: str | None
    ) -> AbstractContextManager[Any]:
        """Nothing to report."""
        return NOTHING

    def receiving(self, envelope: Envelope, topic: str | None) -> AbstractContextManager[Any]:
        """Nothing to report."""
        return NOTHING

    def processing(
        self, envelope: Envelope, handler: str, operation: str
    ) -> AbstractContextManager[Any]:
        """The handler's message is the log context while it runs."""
        return _Scope(envelope, handler)

    def relaying(self, records: Sequence[OutgoingRecord]) -> AbstractContextManager[Any]:
        """Nothing to report."""
        return NOTHING

    def retried(self, envelope: Envelope, handler: str) -> None:
        """Nothing to report."""

    def dead_lettered(
        self,
        message_type: str | None,
        handler: str | None,
        reason: str,
        *,
        tenant: str | None = None,
    ) -> None:
        """Nothing to report."""


def message_scope(envelope: Envelope, handler: str) -> AbstractContextManager[None]:
    """:data:`current_message` set to ``handler`` running for ``envelope`` while it lasts."""
    return _Scope(envelope, handler)
