"""Dead letters on Kafka: ``<topic>.dlq`` records carrying the failure in headers.

A dead-lettered message is written to the dead-letter topic of the topic it was read from
(or of its own topic) as the same CloudEvents record the original was, plus these headers,
so it can be inspected with any Kafka tool and replayed by re-publishing its value and
``ce_*`` headers:

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
=================================== ========================================================
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException, Producer

from momentum.kafka.provisioning import dead_letter_topic
from momentum.runtime.dead_letters import DeadLetterRecord
from momentum.runtime.ports import RejectedRecord

logger = logging.getLogger("momentum.kafka.dead_letters")

PREFIX = "momentum-dlq-"
STACK_LIMIT = 16 * 1024

__all__ = [
    "PREFIX",
    "PoisonForwarder",
    "dead_letter_headers",
    "dead_letter_topic",
    "poison_headers",
]


def _time(seconds: float) -> bytes:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z").encode()


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


class PoisonForwarder:
    """Writes poison records to their ``<topic>.dlq`` from the consumer thread.

    Each record is produced and flushed before the consumer hands the batch on, so a poison
    record is committed only once its dead-letter copy is acknowledged. When the dead-letter
    topic cannot be written for ``give_up_after`` seconds, the record is logged at ERROR with
    its coordinates and committed anyway (the consumer must not stall forever).
    """

    def __init__(self, producer_config: dict[str, Any], give_up_after: float = 30.0) -> None:
        self._producer = Producer(producer_config)
        self._give_up_after = give_up_after

    def __call__(self, poison: RejectedRecord) -> None:
        """Dead-letter one poison record (blocking until acknowledged or given up)."""
        topic = dead_letter_topic(poison.topic)
        extra = poison_headers(poison)
        headers: list[tuple[str, str | bytes | None]] = [*poison.headers, *extra]
        deadline = time.monotonic() + self._give_up_after
        delivered: list[Any] = []
        while True:
            delivered.clear()
            try:
                self._producer.produce(
                    topic,
                    poison.value,
                    poison.key,
                    headers=headers,
                    on_delivery=lambda err, _msg: delivered.append(err),
                )
                self._producer.flush(max(0.1, deadline - time.monotonic()))
            except (BufferError, KafkaException) as exc:
                delivered.append(exc)
            if delivered and delivered[0] is None:
                return
            if time.monotonic() >= deadline:
                logger.error(
                    "could not dead-letter poison record %s[%d]@%d to %s (%s); committed "
                    "without a dead-letter copy",
                    poison.topic,
                    poison.partition,
                    poison.offset,
                    topic,
                    delivered[0] if delivered else "no delivery report",
                )
                return
            time.sleep(0.2)  # back off before producing again (consumer thread)

    def close(self) -> None:
        """Flush what is left."""
        self._producer.flush(5)
