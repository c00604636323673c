"""Conversions between store dataclasses and SQLite rows; the SQL column lists."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from momentum.runtime.store import DeadLetter, OutgoingRecord, StoredMessage, storable_text

OUTBOX_COLUMNS = (
    "id, message_id, destination, key, headers, body, created_at, available_at, attempts,"
    " owner, lease_until, last_error"
)
DEAD_LETTER_INSERT = (
    "message_id, destination, key, headers, body, message_type, exception_type,"
    " exception_message, stack, attempts, first_failure_at, last_failure_at, origin_topic,"
    " origin_partition, origin_offset, handler, tenant, consumer_group, raw_key"
)
DEAD_LETTER_COLUMNS = f"id, {DEAD_LETTER_INSERT}"
DEAD_LETTER_PLACEHOLDERS = ", ".join(["?"] * 19)


def encode_headers(headers: Sequence[tuple[str, bytes]]) -> str:
    """Headers as JSON text: ``[[name, base64 value], ...]``."""
    return json.dumps([[name, base64.b64encode(value).decode("ascii")] for name, value in headers])


def decode_headers(text: str) -> list[tuple[str, bytes]]:
    """The inverse of :func:`encode_headers`."""
    return [(name, base64.b64decode(value)) for name, value in json.loads(text)]


def ids_json(ids: Sequence[int]) -> str:
    """Row ids as a JSON array, for ``id IN (SELECT value FROM json_each(?))``."""
    return json.dumps([int(i) for i in ids])


def stored_message(row: Sequence[Any]) -> StoredMessage:
    """An outbox row (selected as :data:`OUTBOX_COLUMNS`) as a :class:`StoredMessage`."""
    record = OutgoingRecord(
        message_id=row[1],
        destination=row[2],
        key=row[3],
        headers=decode_headers(row[4]),
        body=bytes(row[5]),
        available_at=row[7],
    )
    return StoredMessage(
        id=row[0],
        record=record,
        attempts=row[8],
        created_at=row[6],
        available_at=row[7],
        owner=row[9],
        lease_until=row[10],
        last_error=row[11],
    )


def dead_letter(row: Sequence[Any]) -> DeadLetter:
    """A dead letter row (selected as :data:`DEAD_LETTER_COLUMNS`) as a :class:`DeadLetter`."""
    record = OutgoingRecord(
        message_id=row[1],
        destination=row[2],
        key=row[3],
        headers=decode_headers(row[4]),
        body=bytes(row[5]),
    )
    return DeadLetter(
        id=row[0],
        record=record,
        message_type=row[6],
        exception_type=row[7],
        exception_message=row[8],
        stack=row[9],
        attempts=row[10],
        first_failure_at=row[11],
        last_failure_at=row[12],
        origin_topic=row[13],
        origin_partition=row[14],
        origin_offset=row[15],
        handler=row[16],
        tenant=row[17],
        group=row[18],
        raw_key=bytes(row[19]) if row[19] is not None else None,
    )


def dead_letter_params(letter: DeadLetter) -> tuple[Any, ...]:
    """Insert parameters of a dead letter, in :data:`DEAD_LETTER_INSERT` order."""
    record = letter.record
    text = storable_text
    return (
        text(record.message_id),
        text(record.destination),
        text(record.key),
        encode_headers([(text(name) or "", value) for name, value in record.headers]),
        record.body,
        text(letter.message_type),
        text(letter.exception_type),
        text(letter.exception_message),
        text(letter.stack),
        letter.attempts,
        letter.first_failure_at,
        letter.last_failure_at,
        text(letter.origin_topic),
        letter.origin_partition,
        letter.origin_offset,
        text(letter.handler),
        text(letter.tenant),
        text(letter.group),
        letter.raw_key,
    )
