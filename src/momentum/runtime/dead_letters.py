"""Dead letters: messages whose handler kept failing, kept with the failure for replay.

:class:`DeadLetterSink` is the port; :class:`InMemoryDeadLetters` keeps them in the process
(the embedded default until a durable store is configured; lost on exit).
"""

from __future__ import annotations

import itertools
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from momentum.contracts.envelope import Envelope
from momentum.contracts.errors import TransportError

logger = logging.getLogger("momentum.errors")


def exception_name(exc: BaseException) -> str:
    """The fully qualified name of ``exc``'s class (what dead letters record)."""
    klass = type(exc)
    return f"{klass.__module__}.{klass.__qualname__}"


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """A message that will not be retried any more, and why.

    Attributes:
        envelope: The message with its metadata (origin tells where it was read from).
        handler: Dotted name of the handler that failed.
        exception_type: Qualified name of the last exception's class.
        exception_message: ``str`` of the last exception.
        stack: The formatted traceback of the last exception.
        attempts: How many times the handler ran.
        first_failed_at: POSIX time of the first failure.
        last_failed_at: POSIX time of the last failure.
        reason: ``retries-exhausted`` or ``not-retried``.
        id: Identifier within the sink (set by the sink).
    """

    envelope: Envelope
    handler: str
    exception_type: str
    exception_message: str
    stack: str
    attempts: int
    first_failed_at: float
    last_failed_at: float
    reason: str
    id: int = 0

    @classmethod
    def of(
        cls,
        envelope: Envelope,
        handler: str,
        exc: BaseException,
        *,
        attempts: int,
        first_failed_at: float,
        reason: str,
    ) -> DeadLetterRecord:
        """A record for ``exc``, the last failure of ``handler`` on ``envelope``."""
        return cls(
            envelope=envelope,
            handler=handler,
            exception_type=exception_name(exc),
            exception_message=str(exc),
            stack="".join(traceback.format_exception(exc)),
            attempts=attempts,
            first_failed_at=first_failed_at,
            last_failed_at=time.time(),
            reason=reason,
        )


@runtime_checkable
class DeadLetterSink(Protocol):
    """Where dead letters go (a store table, a Kafka topic, memory)."""

    async def add(self, record: DeadLetterRecord) -> None:
        """Keep one dead letter."""
        ...


class InMemoryDeadLetters:
    """Dead letters kept in this process, in arrival order."""

    def __init__(self) -> None:
        self._records: dict[int, DeadLetterRecord] = {}
        self._ids = itertools.count(1)

    async def add(self, record: DeadLetterRecord) -> None:
        """Keep one dead letter, giving it an id."""
        ident = next(self._ids)
        self._records[ident] = replace(record, id=ident)

    def records(
        self,
        *,
        message_type: type | None = None,
        exception_type: str | None = None,
        tenant_id: str | None = None,
    ) -> list[DeadLetterRecord]:
        """Dead letters, oldest first, optionally filtered."""
        return [
            r
            for r in self._records.values()
            if (message_type is None or isinstance(r.envelope.message, message_type))
            and (exception_type is None or r.exception_type.endswith(exception_type))
            and (tenant_id is None or r.envelope.tenant_id == tenant_id)
        ]

    def take(self, ids: Sequence[int]) -> list[DeadLetterRecord]:
        """Remove and return the dead letters with ``ids`` (for replay)."""
        return [self._records.pop(i) for i in ids if i in self._records]

    def __len__(self) -> int:
        return len(self._records)


@runtime_checkable
class DeadLetterTransport(Protocol):
    """A transport that also keeps dead letters on its own dead-letter topics (Kafka)."""

    async def publish_dead_letter(self, record: DeadLetterRecord, topic: str) -> None:
        """Send ``record`` to the dead-letter topic of ``topic`` (``<topic>.dlq``)."""
        ...


class TransportDeadLetters:
    """Keeps each dead letter in ``inner`` and on the transport's dead-letter topic."""

    def __init__(
        self,
        inner: DeadLetterSink,
        transport: DeadLetterTransport,
        topic_of: Callable[[Envelope], str | None],
    ) -> None:
        self.inner = inner
        self.transport = transport
        self.topic_of = topic_of

    async def add(self, record: DeadLetterRecord) -> None:
        """Store the dead letter, then publish it next to the topic it came from.

        A copy the transport cannot write is logged (the letter is kept in ``inner``); it
        does not fail the message's delivery.
        """
        await self.inner.add(record)
        topic = self.topic_of(record.envelope)
        if topic is None:
            return
        try:
            await self.transport.publish_dead_letter(record, topic)
        except TransportError as exc:
            envelope = record.envelope
            logger.error(
                "dead letter of %s %s (%s) kept in the service's dead letters, but not on "
                "the dead-letter topic of %s: %s",
                envelope.message_type,
                envelope.message_id,
                record.handler,
                topic,
                exc,
            )
