"""Records <-> envelopes: the CloudEvents codec applied to Kafka records.

Decoding never raises: a record whose ``ce_type`` no subscribed class has is skipped (another
service's event on a shared topic) unless the topic is one the service owns (its own packages
define the events published there), any other undecodable record is poison. Both come back as
``None`` so the consumer commits past them instead of stalling; poison is logged, counted and
handed to ``on_poison`` (the transport writes it to ``<topic>.dlq`` with its reason before
the record counts as done).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from momentum.contracts.cloudevents import decode, encode
from momentum.contracts.envelope import Envelope, new_origin
from momentum.contracts.errors import SerializationError
from momentum.contracts.message_types import MessageTypeRegistry
from momentum.contracts.serialization import Casing
from momentum.runtime.ports import RejectedRecord

logger = logging.getLogger("momentum.kafka.codec")

TRANSPORT_NAME = "kafka"
SKIPPED_REASONS = frozenset({"unknown-type"})

Headers = list[tuple[str, bytes]]


def encode_record(
    envelope: Envelope, key: str | None, casing: Casing
) -> tuple[bytes, bytes, Headers]:
    """``(key, value, headers)`` of the record for ``envelope`` (key: given, else message id)."""
    value, headers = encode(envelope, casing=casing)  # a new list: the caller may extend it
    record_key = key if key is not None else envelope.message_id_text
    return record_key.encode(), value, headers


class RecordDecoder:
    """Decodes records of the subscribed types; counts what it skips and what is poison."""

    def __init__(
        self,
        message_types: Iterable[type],
        on_poison: Callable[[RejectedRecord], None] | None = None,
        owned_topics: Iterable[str] = (),
    ) -> None:
        self.registry = MessageTypeRegistry(message_types)
        self.on_poison = on_poison
        self.owned_topics = frozenset(owned_topics)
        self.skipped = 0
        self.poison = 0
        self._lock = threading.Lock()

    def decode(
        self,
        value: bytes | None,
        headers: list[tuple[str, bytes | None]] | None,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None = None,
    ) -> Envelope | None:
        """The envelope of one record, or ``None`` when it is skipped or poison."""
        origin = new_origin(TRANSPORT_NAME, topic, partition, offset)
        try:
            return decode(value, headers, self.registry, origin=origin)
        except SerializationError as exc:
            reason = getattr(exc, "reason", "invalid")
            if reason in SKIPPED_REASONS and topic in self.owned_topics:
                reason = "unknown-type-on-owned-topic"  # nobody else publishes here: poison
            with self._lock:
                if reason in SKIPPED_REASONS:
                    self.skipped += 1
                else:
                    self.poison += 1
            if reason in SKIPPED_REASONS:
                logger.debug("skipped %s[%d]@%d: %s", topic, partition, offset, exc)
            else:
                logger.warning(
                    "poison record %s[%d]@%d (%s): %s; dead-lettered, not handled",
                    topic,
                    partition,
                    offset,
                    reason,
                    exc,
                )
                self._poisoned(topic, partition, offset, key, value, headers, reason, exc)
            return None
        except Exception as exc:  # a codec defect must not stall the partition either
            with self._lock:
                self.poison += 1
            logger.exception("decoding %s[%d]@%d failed: %r", topic, partition, offset, exc)
            self._poisoned(topic, partition, offset, key, value, headers, "decode-failed", exc)
            return None

    def _poisoned(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes | None]] | None,
        reason: str,
        error: BaseException,
    ) -> None:
        if self.on_poison is not None:
            record = RejectedRecord(
                topic,
                partition,
                offset,
                key,
                value,
                list(headers or []),
                reason,
                error,
                time.time(),
            )
            self.on_poison(record)
