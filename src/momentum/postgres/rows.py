"""Conversions between store dataclasses and PostgreSQL rows; the SQL column lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from momentum.runtime.store import DeadLetter, OutgoingRecord, StoredMessage, storable_text

OUTBOX_COLUMNS = (
    "id, message_id, destination, key, header_names, header_values, body, created_at,"
    " available_at, attempts, owner, lease_until, last_error"
)
DEAD_LETTER_COLUMNS = (
    "id, message_id, destination, key, header_names, header_values, body, message_type,"
    " exception_type, exception_message, stack, attempts, first_failure_at, last_failure_at,"
    " origin_topic, origin_partition, origin_offset, handler, tenant, consumer_group, raw_key"
)
DEAD_LETTER_INSERT = (
    "message_id, destination, key, header_names, header_values, body, message_type,"
    " exception_type, exception_message, stack, attempts, first_failure_at, last_failure_at,"
    " origin_topic, origin_partition, origin_offset, handler, tenant, consumer_group, raw_key"
)
DEAD_LETTER_PLACEHOLDERS = ", ".join(["%s"] * 20)
DEAD_LETTER_TYPES = (
    "text",
    "text",
    "text",
    "text[]",
    "bytea[]",
    "bytea",
    "text",
    "text",
    "text",
    "text",
    "int4",
    "timestamptz",
    "timestamptz",
    "text",
    "int4",
    "int8",
    "text",
    "text",
    "text",
    "bytea",
)
"""The PostgreSQL types of :data:`DEAD_LETTER_INSERT`, in order (a binary ``COPY``)."""


def to_datetime(timestamp: float) -> datetime:
    """A POSIX timestamp as an aware UTC datetime (for ``timestamptz``)."""
    return datetime.fromtimestamp(timestamp, UTC)


def to_timestamp(value: datetime | None) -> float | None:
    """A ``timestamptz`` value as a POSIX timestamp."""
    return value.timestamp() if value is not None else None


def _headers(names: Sequence[str], values: Sequence[bytes]) -> list[tuple[str, bytes]]:
    return [(name, bytes(value)) for name, value in zip(names, values, strict=True)]


def stored_message(row: Sequence[Any]) -> StoredMessage:
    """An outbox row (selected as :data:`OUTBOX_COLUMNS`) as a :class:`StoredMessage`."""
    available_at = row[8].timestamp()
    record = OutgoingRecord(
        message_id=row[1],
        destination=row[2],
        key=row[3],
        headers=list(zip(row[4], row[5], strict=True)),  # bytea values load as bytes
        body=bytes(row[6]),
        available_at=available_at,
    )
    return StoredMessage(
        id=row[0],
        record=record,
        attempts=row[9],
        created_at=row[7].timestamp(),
        available_at=available_at,
        owner=row[10],
        lease_until=to_timestamp(row[11]),
        last_error=row[12],
    )


def dead_letter(row: Sequence[Any]) -> DeadLetter:
    """A dead letter row (selected as :data:`DEAD_LETTER_COLUMNS`) as a :class:`DeadLetter`."""
    record = OutgoingRecord(
        message_id=row[1],
        destination=row[2],
        key=row[3],
        headers=_headers(row[4], row[5]),
        body=bytes(row[6]),
    )
    return DeadLetter(
        id=row[0],
        record=record,
        message_type=row[7],
        exception_type=row[8],
        exception_message=row[9],
        stack=row[10],
        attempts=row[11],
        first_failure_at=row[12].timestamp(),
        last_failure_at=row[13].timestamp(),
        origin_topic=row[14],
        origin_partition=row[15],
        origin_offset=row[16],
        handler=row[17],
        tenant=row[18],
        group=row[19],
        raw_key=bytes(row[20]) if row[20] is not None else None,
    )


def dead_letter_params(letter: DeadLetter) -> tuple[Any, ...]:
    """Insert parameters of a dead letter, in :data:`DEAD_LETTER_INSERT` order.

    Text holds no NUL (:func:`~momentum.runtime.store.storable_text`): PostgreSQL refuses it.
    """
    record = letter.record
    text = storable_text
    return (
        text(record.message_id),
        text(record.destination),
        text(record.key),
        [text(name) or "" for name, _ in record.headers],
        [value for _, value in record.headers],
        record.body,
        text(letter.message_type),
        text(letter.exception_type),
        text(letter.exception_message),
        text(letter.stack),
        letter.attempts,
        to_datetime(letter.first_failure_at),
        to_datetime(letter.last_failure_at),
        text(letter.origin_topic),
        letter.origin_partition,
        letter.origin_offset,
        text(letter.handler),
        text(letter.tenant),
        text(letter.group),
        letter.raw_key,
    )
