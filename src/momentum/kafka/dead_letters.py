"""Dead letters on Kafka: ``<topic>.dlq`` records carrying the failure in headers.

A dead-lettered message is written to the dead-letter topic of the topic it was read from
(or of its own topic): a record read from Kafka exactly as it was read (key, value and
headers byte for byte, whoever produced it), any other message as its CloudEvents record;
plus these headers, so it can be inspected with any Kafka tool and replayed by re-publishing
its key, value and original headers:

=================================== ========================================================
``momentum-dlq-reason``             ``retries-exhausted``, ``not-retried``, or a decode reason
                                    for poison records (``invalid-json``, ...)
``momentum-dlq-exception-type``     qualified class name of the last exception
``momentum-dlq-exception-message``  its message
``momentum-dlq-stack``              the formatted traceback (at most 16 KiB, the end kept)
``momentum-dlq-attempts``           how many times the handler ran
``momentum-dlq-handler``            dotted name of the failing handler
``momentum-dlq-first-failed-at``    RFC 3339 UTC
``momentum-dlq-failed-at``          RFC 3339 UTC
``momentum-dlq-original-topic``     where the message was read (when it came from Kafka)
``momentum-dlq-original-partition``
``momentum-dlq-original-offset``
``momentum-dlq-value-omitted``      on a copy written without the original value because the
                                    whole copy exceeded the message size limit: the value's
                                    size in bytes (the store's dead letters keep it whole)
=================================== ========================================================
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException, Producer

from momentum.contracts.cloudevents import rfc3339
from momentum.contracts.errors import TransportError
from momentum.contracts.partitioning import partition_key
from momentum.contracts.serialization import Casing
from momentum.kafka.codec import TRANSPORT_NAME, encode_record
from momentum.kafka.producer import librdkafka_logger
from momentum.kafka.provisioning import dead_letter_topic
from momentum.runtime.dead_letters import DeadLetterRecord
from momentum.runtime.ports import RejectedRecord

logger = logging.getLogger("momentum.kafka.dead_letters")

PREFIX = "momentum-dlq-"
STACK_LIMIT = 16 * 1024

__all__ = [
    "OMITTED_HEADER",
    "PREFIX",
    "CopyOutcome",
    "DeadLetterCopies",
    "DeadLetterCopy",
    "dead_letter_copy",
    "dead_letter_headers",
    "dead_letter_topic",
    "poison_headers",
    "too_large",
]


def _time(seconds: float) -> bytes:
    """RFC 3339 UTC with microseconds (``2024-05-01T12:00:00.250000Z``), as ``ce_time`` is."""
    return rfc3339(seconds)


def dead_letter_headers(record: DeadLetterRecord) -> list[tuple[str, bytes]]:
    """The ``momentum-dlq-*`` headers describing why ``record`` is a dead letter."""
    stack = record.stack.encode()
    if len(stack) > STACK_LIMIT:
        stack = b"..." + stack[-STACK_LIMIT:]
    headers = [
        (PREFIX + "reason", record.reason.encode()),
        (PREFIX + "exception-type", record.exception_type.encode()),
        (PREFIX + "exception-message", record.exception_message.encode()),
        (PREFIX + "stack", stack),
        (PREFIX + "attempts", str(record.attempts).encode()),
        (PREFIX + "handler", record.handler.encode()),
        (PREFIX + "first-failed-at", _time(record.first_failed_at)),
        (PREFIX + "failed-at", _time(record.last_failed_at)),
    ]
    origin = record.envelope.origin
    if origin is not None and origin.topic is not None:
        headers.append((PREFIX + "original-topic", origin.topic.encode()))
        if origin.partition is not None:
            headers.append((PREFIX + "original-partition", str(origin.partition).encode()))
        if origin.offset is not None:
            headers.append((PREFIX + "original-offset", str(origin.offset).encode()))
    return headers


@dataclass(frozen=True, slots=True)
class DeadLetterCopy:
    """The record a dead letter is written as on ``<topic>.dlq``.

    Attributes:
        key: The record key (as read, for a message read from Kafka).
        value: The record value.
        headers: The original headers, then the ``momentum-dlq-*`` ones.
    """

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    def without_value(self) -> DeadLetterCopy:
        """This copy without its value (``momentum-dlq-value-omitted``: its size)."""
        omitted = (OMITTED_HEADER, str(len(self.value)).encode())
        return DeadLetterCopy(self.key, b"", [*self.headers, omitted])


def dead_letter_copy(record: DeadLetterRecord, casing: Casing) -> DeadLetterCopy:
    """``record`` as written to its dead-letter topic (see the module)."""
    envelope = record.envelope
    origin = envelope.origin
    if origin is not None and origin.headers is not None and origin.transport == TRANSPORT_NAME:
        # as read: raw header values (None stays a null header value)
        headers = cast(list[tuple[str, bytes]], list(origin.headers))
        return DeadLetterCopy(
            origin.key, origin.value or b"", [*headers, *dead_letter_headers(record)]
        )
    key, value, headers = encode_record(envelope, partition_key(envelope.message), casing)
    return DeadLetterCopy(key, value, [*headers, *dead_letter_headers(record)])


def too_large(error: TransportError) -> bool:
    """Whether a send failed because the record exceeds a message size limit."""
    return _TOO_LARGE_NAME in str(error)


def poison_headers(poison: RejectedRecord) -> list[tuple[str, bytes]]:
    """Headers of a poison record (one that could not be decoded) on its dead-letter topic."""
    klass = type(poison.error)
    return [
        (PREFIX + "reason", poison.reason.encode()),
        (PREFIX + "exception-type", f"{klass.__module__}.{klass.__qualname__}".encode()),
        (PREFIX + "exception-message", str(poison.error).encode()),
        (PREFIX + "attempts", b"0"),
        (PREFIX + "failed-at", _time(poison.failed_at)),
        (PREFIX + "original-topic", poison.topic.encode()),
        (PREFIX + "original-partition", str(poison.partition).encode()),
        (PREFIX + "original-offset", str(poison.offset).encode()),
    ]


OMITTED_HEADER = PREFIX + "value-omitted"
"""On a copy written without the original value (too large): the value's size in bytes."""

_TOO_LARGE = KafkaError.MSG_SIZE_TOO_LARGE
_TOO_LARGE_NAME = "MSG_SIZE_TOO_LARGE"
"""How :func:`~momentum.kafka.producer.delivery_error` names that error in its message."""


@dataclass(frozen=True, slots=True)
class CopyOutcome:
    """What became of one dead-letter copy.

    Attributes:
        written: A copy is on the dead-letter topic (whole, or without its value).
        note: Empty when the copy is there whole; else what happened, in words (``on
            t.dlq without its value (...)``, ``not on t.dlq: ...``).
        value_omitted: The copy lacks the original value (it was too large).
        retriable: Writing it again may succeed (not when even the copy without its value
            is too large).
    """

    written: bool
    note: str = ""
    value_omitted: bool = False
    retriable: bool = True


WHOLE = CopyOutcome(True)


class DeadLetterCopies:
    """Writes copies of poison records to their ``<topic>.dlq``, a batch at a time.

    Every record of a batch is produced, then the producer is flushed once (on a worker
    thread: the event loop and the consumer thread never wait for it). A copy too large for
    the producer's or the broker's message size limit is written again without the original
    value (header ``momentum-dlq-value-omitted``: its size); one that still does not fit, or
    fails otherwise, is reported as not written. Delivery reports come within
    ``timeout`` seconds (the producer's ``message.timeout.ms``).

    Args:
        producer_config: librdkafka producer properties.
        timeout: Seconds a copy may take to be acknowledged before it counts as failed.
    """

    def __init__(self, producer_config: dict[str, Any], timeout: float = 30.0) -> None:
        config = {
            "message.timeout.ms": int(timeout * 1000),
            **producer_config,
            "logger": librdkafka_logger,
        }
        self._producer = Producer(config)
        self._timeout = timeout

    async def write(self, records: Sequence[RejectedRecord]) -> list[CopyOutcome]:
        """Copy ``records`` to their dead-letter topics; each one's outcome, in order."""
        errors = await self._send([(r, False) for r in records])
        outcomes: list[CopyOutcome] = [WHOLE] * len(records)
        retry = [i for i, e in enumerate(errors) if e is not None and _too_large_error(e)]
        stripped = await self._send([(records[i], True) for i in retry]) if retry else []
        for index, error in enumerate(errors):
            if error is None:
                continue
            topic = dead_letter_topic(records[index].topic)
            outcomes[index] = CopyOutcome(False, f"not on {topic}: {_reason(error)}")
        for index, error in zip(retry, stripped, strict=True):
            record = records[index]
            topic = dead_letter_topic(record.topic)
            size = len(record.value or b"")
            if error is None:
                note = (
                    f"on {topic} without its value ({size} bytes: the whole copy was refused, "
                    f"{_reason(errors[index])})"
                )
                outcomes[index] = CopyOutcome(True, note, value_omitted=True)
            else:
                note = f"not on {topic}: {_reason(error)} (also without its {size}-byte value)"
                outcomes[index] = CopyOutcome(False, note, retriable=not _too_large_error(error))
        return outcomes

    async def _send(self, copies: Sequence[tuple[RejectedRecord, bool]]) -> list[Any]:
        """Produce each ``(record, without_value)`` copy, flush once; each one's error."""
        errors: list[Any] = [_PENDING] * len(copies)

        def report(index: int) -> Callable[[Any, Any], None]:
            def reported(error: Any, _message: Any) -> None:
                errors[index] = error

            return reported

        produce = self._producer.produce
        deadline = time.monotonic() + self._timeout
        for index, (record, without_value) in enumerate(copies):
            topic = dead_letter_topic(record.topic)
            value, headers = _copy(record, without_value)
            while True:
                try:
                    produce(topic, value, record.key, headers=headers, on_delivery=report(index))
                except BufferError:  # librdkafka's queue is full: let it drain, then again
                    if time.monotonic() < deadline:
                        await asyncio.to_thread(self._producer.flush, 0.5)
                        continue
                    errors[index] = "the producer's queue stayed full"
                except (KafkaException, ValueError, TypeError) as exc:
                    errors[index] = exc.args[0] if isinstance(exc, KafkaException) else exc
                break
        if any(e is _PENDING for e in errors):
            await asyncio.to_thread(self._producer.flush, self._timeout + 5)
        return [("no delivery report" if e is _PENDING else e) for e in errors]

    def close(self) -> None:
        """Flush what is left (blocking: run it on a thread)."""
        self._producer.flush(5)


_PENDING: Any = object()


def _copy(
    record: RejectedRecord, without_value: bool
) -> tuple[bytes | None, list[tuple[str, str | bytes | None]]]:
    """The value and headers of ``record``'s dead-letter copy."""
    headers: list[tuple[str, str | bytes | None]] = [*record.headers, *poison_headers(record)]
    if not without_value:
        return record.value, headers
    headers.append((OMITTED_HEADER, str(len(record.value or b"")).encode()))
    return b"", headers


def _too_large_error(error: Any) -> bool:
    return isinstance(error, KafkaError) and error.code() == _TOO_LARGE


def _reason(error: Any) -> str:
    if isinstance(error, KafkaError):
        return f"{error.name()}: {error.str()}"
    return str(error)
