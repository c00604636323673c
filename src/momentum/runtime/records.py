"""Envelopes <-> outbox records for the runtime's own use (in-memory transport, dead letters).

Records are CloudEvents in binary mode, exactly what the Kafka transport writes, so a row
written by one transport can be read back by any process of the service.
"""

from __future__ import annotations

from collections.abc import Iterable

from momentum.contracts.cloudevents import decode, encode
from momentum.contracts.envelope import Envelope, Origin
from momentum.contracts.message_types import MessageTypeRegistry
from momentum.contracts.serialization import DEFAULT_CASING, Casing
from momentum.runtime.store import OutgoingRecord


def encode_outgoing(
    envelope: Envelope,
    destination: str,
    key: str | None,
    *,
    casing: Casing = DEFAULT_CASING,
    available_at: float | None = None,
) -> OutgoingRecord:
    """The wire record of ``envelope`` for ``destination`` (keyed by ``key``, else its id)."""
    body, headers = encode(envelope, casing=casing)
    return OutgoingRecord(
        message_id=envelope.message_id_text,
        destination=destination,
        key=key if key is not None else envelope.message_id_text,
        headers=list(headers),
        body=body,
        available_at=available_at,
    )


class RecordReader:
    """Decodes records of known message types back into envelopes."""

    def __init__(self, message_types: Iterable[type]) -> None:
        self.registry = MessageTypeRegistry(message_types)

    def read(self, record: OutgoingRecord, origin: Origin | None = None) -> Envelope:
        """The envelope of ``record``; raises ``MessageDecodeError`` subclasses."""
        return decode(record.body, record.headers, self.registry, origin=origin)
