"""Records <-> envelopes: the CloudEvents codec applied to Kafka records.

Decoding never raises: a record whose ``ce_type`` no subscribed class has is skipped (another
service's event on a shared topic) unless the topic is one the service owns (its own packages
define the events published there), any other undecodable record is poison. Both come back as
``None``. Poison is logged (one line per record, no traceback; beyond :data:`LOG_BURST`
records in :data:`LOG_WINDOW` seconds one line counts the rest by topic and reason, so a
flood of garbage does not cost a log line each), counted and collected in
:attr:`RecordDecoder.rejected` as a :class:`~momentum.runtime.ports.RejectedRecord`; the
consumer hands those on with their batch, and they are kept (``<topic>.dlq``, the store's
dead letters) before their offsets count as done.

A record that fails to decode but carries ``momentum-replay-group`` naming another consumer
group is skipped: it is a dead letter that group replays, not poison of this one.

Every envelope's :class:`~momentum.contracts.envelope.Origin` keeps the record as it was read
(key, value and headers): a dead letter then keeps the original bytes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable

from momentum.contracts.cloudevents import decode, encode
from momentum.contracts.envelope import Envelope, read_origin
from momentum.contracts.errors import SerializationError
from momentum.contracts.message_types import MessageTypeRegistry
from momentum.contracts.serialization import Casing
from momentum.runtime.ports import RejectedRecord
from momentum.runtime.replay import REPLAY_GROUP_HEADER

logger = logging.getLogger("momentum.kafka.codec")

TRANSPORT_NAME = "kafka"
SKIPPED_REASONS = frozenset({"unknown-type"})
LOG_BURST = 20
"""Poison records logged one by one per :data:`LOG_WINDOW` (the rest are counted)."""
LOG_WINDOW = 10.0
"""Seconds of one logging window (then one line counts what was not logged)."""

Headers = list[tuple[str, bytes]]
InboundHeaders = list[tuple[str, bytes | None]]


def encode_record(
    envelope: Envelope, key: str | None, casing: Casing
) -> tuple[bytes, bytes, Headers]:
    """``(key, value, headers)`` of the record for ``envelope`` (key: given, else message id)."""
    value, headers = encode(envelope, casing=casing)  # a new list: the caller may extend it
    record_key = key if key is not None else envelope.message_id_text
    return record_key.encode(), value, headers


class RecordDecoder:
    """Decodes records of the subscribed types; counts what it skips and what is poison.

    Used by one thread (the consumer's): :attr:`rejected` collects the poison records of the
    records decoded since the consumer last took them.

    Args:
        message_types: The subscribed classes.
        owned_topics: Topics whose unknown types are poison, not another service's events.
        group: The consumer group (a replayed dead letter for another group is skipped).
    """

    def __init__(
        self,
        message_types: Iterable[type],
        owned_topics: Iterable[str] = (),
        group: str | None = None,
    ) -> None:
        self.registry = MessageTypeRegistry(message_types)
        self.owned_topics = frozenset(owned_topics)
        self.group = group
        self.skipped = 0
        self.poison = 0
        self.rejected: list[RejectedRecord] = []
        self._defects: set[type] = set()
        self._window_start = -LOG_WINDOW
        self._logged = 0
        self._quiet: Counter[tuple[str, str]] = Counter()

    def decode(
        self,
        value: bytes | None,
        headers: InboundHeaders | None,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None = None,
    ) -> Envelope | None:
        """The envelope of one record, or ``None`` when it is skipped or poison."""
        origin = read_origin(
            TRANSPORT_NAME, topic, partition, offset, key, value, () if headers is None else headers
        )
        try:
            return decode(value, headers, self.registry, origin=origin)
        except SerializationError as exc:
            reason = getattr(exc, "reason", "invalid")
            error: BaseException = exc
        except Exception as exc:  # a codec defect must not stall the partition either
            reason, error = "decode-failed", exc
        if reason in SKIPPED_REASONS and topic in self.owned_topics:
            reason = "unknown-type-on-owned-topic"  # nobody else publishes here: poison
        if reason in SKIPPED_REASONS or self._replayed_elsewhere(headers):
            self.skipped += 1
            logger.debug("skipped %s[%d]@%d: %s", topic, partition, offset, error)
            return None
        self.poison += 1
        self._log(topic, partition, offset, reason, error)
        # Kept until the record is: without its traceback (and the frames it holds), so a
        # flood of poison leaves no reference cycles for the garbage collector to scan.
        error.__traceback__ = None
        error.__context__ = None
        self.rejected.append(
            RejectedRecord(
                topic,
                partition,
                offset,
                key,
                value,
                [] if headers is None else headers,  # a list of its own per record
                reason,
                error,
                time.time(),
            )
        )
        return None

    def take_rejected(self) -> list[RejectedRecord]:
        """The poison records collected since the last call (and forget them)."""
        rejected, self.rejected = self.rejected, []
        return rejected

    def _replayed_elsewhere(self, headers: InboundHeaders | None) -> bool:
        if not headers or self.group is None:
            return False
        for name, raw in headers:
            if name == REPLAY_GROUP_HEADER:
                return raw is not None and raw != self.group.encode()
        return False

    def _log(
        self, topic: str, partition: int, offset: int, reason: str, error: BaseException
    ) -> None:
        """One line per poison record (within the budget); a defect's traceback once."""
        now = time.monotonic()
        if now - self._window_start >= LOG_WINDOW:
            self.flush_log(now)
        first_defect = reason == "decode-failed" and type(error) not in self._defects
        if self._logged >= LOG_BURST and not first_defect:
            self._quiet[(topic, reason)] += 1
            return
        self._logged += 1
        if reason != "decode-failed":
            logger.warning(
                "poison record %s[%d]@%d (%s): %s; dead-lettered, not handled",
                topic,
                partition,
                offset,
                reason,
                error,
            )
            return
        self._defects.add(type(error))
        logger.error(
            "decoding %s[%d]@%d failed (%s: %s); dead-lettered, not handled%s",
            topic,
            partition,
            offset,
            type(error).__qualname__,
            error,
            "" if first_defect else " (its traceback was logged at its first occurrence)",
            exc_info=error if first_defect else None,
        )

    def flush_log(self, now: float | None = None) -> None:
        """Log the poison records not logged one by one in the window that ended, if any.

        The consumer thread calls it between batches, so the count of a flood that stopped
        is still logged once its window is over.
        """
        now = time.monotonic() if now is None else now
        if now - self._window_start < LOG_WINDOW:
            return
        quiet, self._quiet = self._quiet, Counter()
        self._window_start, self._logged = now, 0
        if not quiet:
            return
        counts = "; ".join(
            f"{topic} {reason}: {count}" for (topic, reason), count in sorted(quiet.items())
        )
        logger.warning(
            "%d more poison record(s) dead-lettered, not handled (more than %d in %g s are "
            "counted, not logged one by one; each is in the dead letters with its reason): %s",
            sum(quiet.values()),
            LOG_BURST,
            LOG_WINDOW,
            counts,
        )
