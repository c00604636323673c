"""``OtelTelemetry``: the runtime's telemetry points as OpenTelemetry spans and metrics.

Spans follow the OpenTelemetry messaging semantic conventions:

- ``publish``/``send``/``schedule`` ``<destination>`` (PRODUCER) for each message handed to a
  route; its context is written to the envelope's ``traceparent``/``tracestate`` headers, so
  it travels as ``ce_traceparent`` (through an outbox row too) and the consumer continues the
  trace.
- ``receive <topic>`` (CONSUMER) around the delivery of an inbound record to the service's
  handlers, a child of the record's producer span; ``process <type>`` (CONSUMER) for each
  handler run inside it. A message from a local queue is processed as a child of the span
  that queued it; ``invoke <type>`` (INTERNAL) runs in the caller's context.
- ``send outbox`` (PRODUCER) for each outbox relay batch, linked to each row's producer span.

Attributes: ``messaging.system``, ``messaging.destination.name``,
``messaging.operation.type``/``.name``, ``messaging.message.id``,
``messaging.message.conversation_id`` (the correlation id), ``messaging.kafka.message.key``,
``messaging.destination.partition.id``, ``messaging.kafka.offset``,
``messaging.consumer.group.name``, plus ``momentum.message.type``, ``momentum.tenant_id``,
``momentum.handler`` and ``momentum.attempt``.

Metrics (every one tagged with ``momentum.service``, ``momentum.message.type`` and
``momentum.tenant_id``): ``momentum.messages.sent``, ``.received``, ``.succeeded``,
``.failed``, ``.retried``, ``.dead_lettered`` (counters), ``momentum.handler.duration``
(histogram, seconds) and the gauges ``momentum.outbox.backlog``,
``momentum.outbox.oldest_age``, ``momentum.inbox.size``, ``momentum.inbox.unsettled``,
``momentum.dead_letters``, ``momentum.kafka.consumer.lag`` (per partition),
``momentum.circuit_breaker.state`` (0 closed, 1 half-open, 2 open) and, for a service
handling only some tenants, the observable counter ``momentum.messages.skipped_tenant``
(records of other tenants skipped).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from momentum.contracts.envelope import TRACE_HEADERS, Envelope
from momentum.contracts.partitioning import partition_key
from momentum.runtime.store import OutgoingRecord
from momentum.runtime.telemetry import Gauges, current_message

VERSION = "0.1.0"
TRACE_CONTEXT = TraceContextTextMapPropagator()
"""W3C trace context only: baggage and other propagators never reach the wire headers."""

BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}
MAX_LINKS = 128
"""Links of a relay batch span at most (one per row)."""

_receiving: ContextVar[str | None] = ContextVar("momentum_otel_receiving", default=None)
"""The message id whose ``receive`` span is current (its handlers' spans are its children)."""


def sdk_configured() -> bool:
    """Whether the application installed an OpenTelemetry SDK tracer or meter provider.

    ``telemetry.enabled`` unset (auto) turns telemetry on only then: with the API's default
    no-op providers nothing would be recorded anyway.
    """
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    defaults = {"ProxyTracerProvider", "NoOpTracerProvider", "_ProxyMeterProvider"}
    defaults.add("NoOpMeterProvider")
    return (
        type(tracer_provider).__name__ not in defaults
        or type(meter_provider).__name__ not in defaults
    )


def _remote_context(headers: Mapping[str, str]) -> otel_context.Context | None:
    """The trace context carried by ``headers`` (``None`` when they carry none)."""
    if not headers or "traceparent" not in headers:
        return None
    return TRACE_CONTEXT.extract(headers)


def _record_context(record: OutgoingRecord) -> trace.SpanContext | None:
    carrier: dict[str, str] = {}
    for name, value in record.headers:
        if name in ("ce_traceparent", "ce_tracestate"):
            carrier[name[3:]] = value.decode("latin-1")
    if "traceparent" not in carrier:
        return None
    found = trace.get_current_span(TRACE_CONTEXT.extract(carrier)).get_span_context()
    return found if found.is_valid else None


def _in_span() -> bool:
    return trace.get_current_span().get_span_context().is_valid


class OtelTelemetry:
    """:class:`~momentum.runtime.telemetry.Telemetry` on the OpenTelemetry API.

    Args:
        tracer_provider: Where spans go; default the global provider.
        meter_provider: Where metrics go; default the global provider.
        log_context: Whether handlers' log records get the message's fields (see
            :class:`~momentum.runtime.telemetry.MessageContextFilter`).
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        log_context: bool = True,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self.log_context = log_context
        self.service = "momentum"
        self.system = "momentum"
        self.group: str | None = None
        self._gauges = Gauges()
        self._made = False
        self._make()

    def attach(self, service: str, group: str, system: str | None) -> None:
        """Name the service (metric tags, the consumer group, the messaging system)."""
        self.service = service
        self.group = group
        self.system = system or "momentum"

    def _make(self) -> None:
        if self._made:
            return
        self._made = True
        tracer_provider = self._tracer_provider or trace.get_tracer_provider()
        meter_provider = self._meter_provider or metrics.get_meter_provider()
        self.tracer = tracer_provider.get_tracer("momentum", VERSION)
        meter = meter_provider.get_meter("momentum", VERSION)
        unit = "{message}"
        self._sent = meter.create_counter(
            "momentum.messages.sent", unit, "Messages handed to a route (Kafka, outbox, queue)."
        )
        self._received = meter.create_counter(
            "momentum.messages.received", unit, "Inbound transport messages delivered."
        )
        self._succeeded = meter.create_counter(
            "momentum.messages.succeeded", unit, "Handler runs that succeeded."
        )
        self._failed = meter.create_counter(
            "momentum.messages.failed", unit, "Handler runs that raised."
        )
        self._retried = meter.create_counter(
            "momentum.messages.retried", unit, "Failed handler attempts that will be retried."
        )
        self._dead_lettered = meter.create_counter(
            "momentum.messages.dead_lettered", unit, "Messages moved to dead letters."
        )
        self._duration = meter.create_histogram(
            "momentum.handler.duration", "s", "Duration of handler runs."
        )
        meter.create_observable_gauge(
            "momentum.outbox.backlog",
            [self._observe("outbox_backlog")],
            "{row}",
            "Unsent outbox rows.",
        )
        meter.create_observable_gauge(
            "momentum.outbox.oldest_age",
            [self._observe("outbox_oldest_age")],
            "s",
            "How long the oldest due unsent outbox row has waited (the relay's lag).",
        )
        meter.create_observable_gauge(
            "momentum.inbox.size", [self._observe("inbox_size")], "{row}", "Inbox rows."
        )
        meter.create_observable_gauge(
            "momentum.inbox.unsettled",
            [self._observe("inbox_unsettled")],
            "{message}",
            "Handled messages whose inbox rows wait for the group commit (not acknowledged).",
        )
        meter.create_observable_gauge(
            "momentum.dead_letters",
            [self._observe("dead_letters")],
            "{message}",
            "Messages in the dead-letter store.",
        )
        meter.create_observable_gauge(
            "momentum.kafka.consumer.lag",
            [self._observe_lag],
            unit,
            "Records of an assigned partition not yet consumed by this process.",
        )
        meter.create_observable_gauge(
            "momentum.circuit_breaker.state",
            [self._observe_breaker],
            "1",
            "The listener's circuit breaker: 0 closed, 1 half-open, 2 open.",
        )
        meter.create_observable_counter(
            "momentum.messages.skipped_tenant",
            [self._observe("tenant_skipped")],
            unit,
            "Inbound records of tenants this service does not handle, committed unhandled.",
        )

    # -- gauges --------------------------------------------------------------------------------

    def observe(self, gauges: Gauges) -> None:
        """The latest gauge values (the runtime refreshes them periodically)."""
        self._gauges = gauges

    def _tags(self) -> dict[str, str]:
        return {"momentum.service": self.service}

    def _observe(self, field: str) -> Any:
        def callback(_options: CallbackOptions) -> Iterable[Observation]:
            value = getattr(self._gauges, field)
            return [] if value is None else [Observation(value, self._tags())]

        return callback

    def _observe_lag(self, _options: CallbackOptions) -> Iterable[Observation]:
        tags = self._tags()
        return [
            Observation(
                lag,
                {
                    **tags,
                    "messaging.destination.name": topic,
                    "messaging.destination.partition.id": str(partition),
                    "messaging.consumer.group.name": self.group or "",
                },
            )
            for (topic, partition), lag in self._gauges.consumer_lag.items()
        ]

    def _observe_breaker(self, _options: CallbackOptions) -> Iterable[Observation]:
        state = self._gauges.breaker
        return [] if state is None else [Observation(BREAKER_STATES[state], self._tags())]

    # -- spans ---------------------------------------------------------------------------------

    def _message_tags(self, envelope: Envelope) -> dict[str, str]:
        tags = {"momentum.service": self.service, "momentum.message.type": envelope.message_type}
        if envelope.tenant_id is not None:
            tags["momentum.tenant_id"] = envelope.tenant_id
        return tags

    def _attributes(self, envelope: Envelope, operation: str, kind: str) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "messaging.system": self.system,
            "messaging.operation.type": kind,
            "messaging.operation.name": operation,
            "messaging.message.id": envelope.message_id_text,
            "momentum.message.type": envelope.message_type,
        }
        if envelope.correlation_id is not None:
            attributes["messaging.message.conversation_id"] = envelope.correlation_id
        if envelope.tenant_id is not None:
            attributes["momentum.tenant_id"] = envelope.tenant_id
        return attributes

    def producing(
        self, envelope: Envelope, operation: str, destination: str | None, key: str | None
    ) -> _Producing:
        """The producer span of one message; its context goes into the envelope's headers."""
        return _Producing(self, envelope, operation, destination, key)

    def receiving(self, envelope: Envelope, topic: str | None) -> _Receiving:
        """The ``receive`` span of one inbound record, current while its handlers run."""
        return _Receiving(self, envelope, topic)

    def processing(self, envelope: Envelope, handler: str, operation: str) -> _Processing:
        """The span, duration and outcome of one handler run."""
        return _Processing(self, envelope, handler, operation)

    def relaying(self, records: Sequence[OutgoingRecord]) -> _Relaying:
        """The span of one outbox relay batch, linked to each row's producer span."""
        return _Relaying(self, records)

    def retried(self, envelope: Envelope, handler: str) -> None:
        """Count a retry."""
        self._retried.add(1, {**self._message_tags(envelope), "momentum.handler": handler})

    def dead_lettered(
        self,
        message_type: str | None,
        handler: str | None,
        reason: str,
        *,
        tenant: str | None = None,
    ) -> None:
        """Count a dead letter."""
        tags = {"momentum.service": self.service, "momentum.reason": reason}
        if message_type is not None:
            tags["momentum.message.type"] = message_type
        if handler is not None:
            tags["momentum.handler"] = handler
        if tenant is not None:
            tags["momentum.tenant_id"] = tenant
        self._dead_lettered.add(1, tags)


class _Producing:
    __slots__ = ("_destination", "_envelope", "_key", "_operation", "_span", "_telemetry")

    def __init__(
        self,
        telemetry: OtelTelemetry,
        envelope: Envelope,
        operation: str,
        destination: str | None,
        key: str | None,
    ) -> None:
        self._telemetry = telemetry
        self._envelope = envelope
        self._operation = operation
        self._destination = destination
        self._key = key

    def __enter__(self) -> trace.Span:
        t = self._telemetry
        envelope = self._envelope
        destination = self._destination or "local"
        attributes = t._attributes(envelope, self._operation, "send")
        attributes["messaging.destination.name"] = destination
        if self._destination is None:
            attributes["messaging.system"] = "momentum"
        elif self._key is not None:
            attributes["messaging.kafka.message.key"] = self._key
        # a message made inside a handler (or any span of the caller) is its child; else it
        # continues the trace its cause carried
        parent = None if _in_span() else _remote_context(envelope.headers)
        span = t.tracer.start_span(
            f"{self._operation} {destination}",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes=attributes,
        )
        headers = envelope.headers
        for name in TRACE_HEADERS:
            headers.pop(name, None)
        TRACE_CONTEXT.inject(headers, context=trace.set_span_in_context(span))
        self._span = span
        return span

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        span = self._span
        t = self._telemetry
        if exc is not None:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            span.set_attribute("error.type", type(exc).__qualname__)
        else:
            tags = t._message_tags(self._envelope)
            tags["messaging.destination.name"] = self._destination or "local"
            t._sent.add(1, tags)
        span.end()


class _Receiving:
    __slots__ = ("_envelope", "_receiving", "_span", "_telemetry", "_token", "_topic")

    def __init__(self, telemetry: OtelTelemetry, envelope: Envelope, topic: str | None) -> None:
        self._telemetry = telemetry
        self._envelope = envelope
        self._topic = topic

    def __enter__(self) -> trace.Span:
        t = self._telemetry
        envelope = self._envelope
        origin = envelope.origin
        topic = self._topic or "unknown"
        attributes = t._attributes(envelope, "receive", "receive")
        attributes["messaging.destination.name"] = topic
        if origin is not None:
            if origin.partition is not None:
                attributes["messaging.destination.partition.id"] = str(origin.partition)
            if origin.offset is not None:
                attributes["messaging.kafka.offset"] = origin.offset
        if t.group is not None:
            attributes["messaging.consumer.group.name"] = t.group
        key = partition_key(envelope.message)
        if key is not None:
            attributes["messaging.kafka.message.key"] = key
        span = t.tracer.start_span(
            f"receive {topic}",
            context=_remote_context(envelope.headers),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        )
        self._span = span
        self._token = otel_context.attach(trace.set_span_in_context(span))
        self._receiving = _receiving.set(envelope.message_id_text)
        t._received.add(1, {**t._message_tags(envelope), "messaging.destination.name": topic})
        return span

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        span = self._span
        if exc is not None:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        _receiving.reset(self._receiving)
        otel_context.detach(self._token)
        span.end()


class _Processing:
    __slots__ = (
        "_envelope",
        "_handler",
        "_log",
        "_operation",
        "_span",
        "_start",
        "_telemetry",
        "_token",
    )

    def __init__(
        self, telemetry: OtelTelemetry, envelope: Envelope, handler: str, operation: str
    ) -> None:
        self._telemetry = telemetry
        self._envelope = envelope
        self._handler = handler
        self._operation = operation

    def __enter__(self) -> trace.Span:
        t = self._telemetry
        envelope = self._envelope
        operation = self._operation
        if operation == "invoke":
            parent = None if _in_span() else _remote_context(envelope.headers)
            kind = SpanKind.INTERNAL
        elif _receiving.get() == envelope.message_id_text:
            parent = None  # the record's receive span is current
            kind = SpanKind.CONSUMER
        else:  # from a local queue: a child of the span that queued it
            parent = _remote_context(envelope.headers)
            kind = SpanKind.CONSUMER
        attributes = t._attributes(envelope, operation, "process")
        attributes["momentum.handler"] = self._handler
        attributes["momentum.attempt"] = envelope.attempts
        origin = envelope.origin
        if origin is not None and origin.topic:
            attributes["messaging.destination.name"] = origin.topic
        span = t.tracer.start_span(
            f"{operation} {type(envelope.message).__qualname__}",
            context=parent,
            kind=kind,
            attributes=attributes,
        )
        self._span = span
        base = parent if parent is not None else otel_context.get_current()
        self._token: Token[Any] = otel_context.attach(trace.set_span_in_context(span, base))
        self._log: Token[tuple[Envelope, str] | None] | None = (
            current_message.set((envelope, self._handler)) if t.log_context else None
        )
        self._start = time.perf_counter()
        return span

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        elapsed = time.perf_counter() - self._start
        t = self._telemetry
        span = self._span
        tags = t._message_tags(self._envelope)
        tags["momentum.handler"] = self._handler
        if exc is not None:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            span.set_attribute("error.type", type(exc).__qualname__)
            t._failed.add(1, tags)
        else:
            t._succeeded.add(1, tags)
        t._duration.record(elapsed, tags)
        if self._log is not None:
            current_message.reset(self._log)
        otel_context.detach(self._token)
        span.end()


class _Relaying:
    __slots__ = ("_records", "_span", "_telemetry")

    def __init__(self, telemetry: OtelTelemetry, records: Sequence[OutgoingRecord]) -> None:
        self._telemetry = telemetry
        self._records = records

    def __enter__(self) -> trace.Span:
        t = self._telemetry
        records = self._records
        links = []
        for record in records[:MAX_LINKS]:
            found = _record_context(record)
            if found is not None:
                links.append(Link(found, {"messaging.message.id": record.message_id}))
        destinations = {r.destination for r in records}
        destination = next(iter(destinations)) if len(destinations) == 1 else "outbox"
        self._span = t.tracer.start_span(
            f"send {destination}",
            context=otel_context.Context(),  # a root: each row belongs to its own trace
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": t.system,
                "messaging.operation.type": "send",
                "messaging.operation.name": "relay",
                "messaging.destination.name": destination,
                "messaging.batch.message_count": len(records),
                "momentum.service": t.service,
            },
            links=links,
        )
        return self._span

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        span = self._span
        if exc is not None:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        span.end()
