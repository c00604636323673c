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

from datetime import UTC, datetime

from momentum.kafka.provisioning import dead_letter_topic
from momentum.runtime.dead_letters import DeadLetterRecord

PREFIX = "momentum-dlq-"
STACK_LIMIT = 16 * 1024

__all__ = ["PREFIX", "dead_letter_headers", "dead_letter_topic"]


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
