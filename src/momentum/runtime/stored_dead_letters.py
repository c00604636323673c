"""Dead letters kept in the message store's dead-letter table (survive restarts).

Each record is written in wire form with its failure, origin, handler and tenant, so
``momentum dlq`` can list, show, replay and purge them from any process: a message read from
Kafka as the record was read (byte for byte, whoever produced it), any other as the
CloudEvents record the transport writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from momentum.contracts.envelope import Envelope
from momentum.runtime.dead_letters import DeadLetterRecord
from momentum.runtime.store import DeadLetter, MessageStore, OutgoingRecord, local_destination


def header_text(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    """The first ``name`` header of a wire record as text; ``None`` when missing or empty."""
    value = next((v for k, v in headers if k == name), b"")
    return value.decode(errors="replace") or None


def destination_of(
    record: DeadLetterRecord, topic_of: Callable[[type], str | None], group: str
) -> str:
    """Where a replay of ``record`` goes.

    The topic it was read from or belongs to, else the handler's durable local queue
    (``local:<group>/<handler>``).
    """
    origin = record.envelope.origin
    if origin is not None and origin.topic is not None and origin.transport != "local":
        return origin.topic
    topic = topic_of(type(record.envelope.message))
    return topic if topic is not None else local_destination(group, record.handler)


class StoreDeadLetters:
    """A :class:`~momentum.runtime.dead_letters.DeadLetterSink` writing to the store.

    Args:
        store: The message store.
        encode: The wire record of an envelope for a destination and key.
        topic_of: The topic of an integration event type (``None`` for other types).
        key_of: The partition key of a message.
        group: The service's consumer group (names its local queues).
    """

    def __init__(
        self,
        store: MessageStore,
        encode: Callable[[Envelope, str, str | None], OutgoingRecord],
        topic_of: Callable[[type], str | None],
        key_of: Callable[[object], str | None],
        group: str,
    ) -> None:
        self.store = store
        self._encode = encode
        self._topic_of = topic_of
        self._key_of = key_of
        self._group = group

    def to_row(self, record: DeadLetterRecord) -> DeadLetter:
        """The store row for ``record``.

        A message read from a transport that kept its record (Kafka) is stored as it was
        read: its value and headers byte for byte, its key as ``raw_key`` (and as text);
        any other is encoded as the transport would write it.
        """
        envelope = record.envelope
        origin = envelope.origin
        destination = destination_of(record, self._topic_of, self._group)
        raw_key: bytes | None = None
        if origin is not None and origin.headers is not None and origin.transport != "local":
            raw_key = origin.key
            wire = OutgoingRecord(
                envelope.message_id_text,
                destination,
                raw_key.decode(errors="replace") if raw_key is not None else None,
                [(name, value or b"") for name, value in origin.headers],
                origin.value or b"",
            )
        else:
            wire = self._encode(envelope, destination, self._key_of(envelope.message))
        return DeadLetter(
            record=wire,
            message_type=envelope.message_type,
            exception_type=record.exception_type,
            exception_message=record.exception_message,
            stack=record.stack,
            attempts=record.attempts,
            first_failure_at=record.first_failed_at,
            last_failure_at=record.last_failed_at,
            origin_topic=origin.topic if origin is not None else None,
            origin_partition=origin.partition if origin is not None else None,
            origin_offset=origin.offset if origin is not None else None,
            handler=record.handler,
            tenant=envelope.tenant_id,
            group=self._group,
            raw_key=raw_key,
        )

    async def add(self, record: DeadLetterRecord) -> None:
        """Write one dead letter in its own transaction."""
        row = self.to_row(record)
        async with self.store.transaction() as tx:
            await tx.add_dead_letter(row)
