"""``Envelope``: a message plus the metadata that travels with it.

Identifiers and timestamps are produced lazily: an in-process ``invoke`` that nobody
inspects never pays for a UUID. Once read, a value is fixed for the envelope's lifetime.

New message ids are random (version 4) UUIDs. They are made in blocks of
:data:`ID_BLOCK` from one ``os.urandom`` call and kept as canonical text: the wire
(``ce_id``, the record key) needs text, so publishing never builds a ``uuid.UUID`` object;
:attr:`Envelope.message_id` builds it from the text on first read.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from momentum.contracts.message_types import message_type_name

TRACE_HEADERS: Final = ("traceparent", "tracestate")
"""The W3C Trace Context headers: a message caused by another carries them on."""

ID_BLOCK: Final = 256
"""How many random message ids :func:`new_message_id_text` makes per ``os.urandom`` call."""

_VARIANT: Final = bytes.maketrans(b"0123456789abcdef", b"89ab89ab89ab89ab")
"""The RFC 4122 variant (``10xx``) applied to the first hex digit of the fourth group."""


def _id_block(count: int = ID_BLOCK) -> list[str]:
    """``count`` new version 4 UUIDs in canonical text, as ``str(uuid.uuid4())`` writes them.

    The digits come from ``os.urandom`` (as ``uuid4``), written in groups of four
    (``aaaa-bbbb-cccc-dddd-eeee-ffff-gggg-hhhh-``, 40 characters an id); strided slice
    writes set the version and variant digits and blank the three dashes the canonical
    ``aaaabbbb-cccc-dddd-eeee-ffffgggghhhh`` does not have, instead of formatting each id.
    """
    text = bytearray(os.urandom(16 * count).hex("-", 2).encode())
    text += b"-"
    text[15::40] = b"4" * count  # the version
    text[20::40] = text[20::40].translate(_VARIANT)
    dropped = b"\0" * count
    text[4::40] = dropped
    text[29::40] = dropped
    text[34::40] = dropped
    text[39::40] = b" " * count
    return text.translate(None, b"\0").decode().split()


_ids: Iterator[str] = iter(())


def new_message_id_text() -> str:
    """A new random (version 4) message id in canonical lower-case text.

    Safe from any thread: each id of a block is taken once (``next`` on a list iterator is
    atomic); a thread finding the block used up starts a new one.
    """
    global _ids
    text = next(_ids, None)
    if text is None:
        block = iter(_id_block())
        _ids = block
        text = next(block)
    return text


def _uuid_builder() -> Callable[[int], uuid.UUID]:
    """``UUID(int=n)`` without ``UUID.__init__``'s argument checks when the slots allow it."""
    if getattr(uuid.UUID, "__slots__", None) != ("int", "is_safe", "__weakref__"):
        return lambda number: uuid.UUID(int=number)  # pragma: no cover - another layout
    new, set_attribute = object.__new__, object.__setattr__
    unknown = uuid.SafeUUID.unknown

    def build(number: int) -> uuid.UUID:
        made = new(uuid.UUID)
        set_attribute(made, "int", number)
        set_attribute(made, "is_safe", unknown)
        return made

    probe = uuid.UUID("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d")
    built = build(probe.int)
    same = built == probe and str(built) == str(probe) and hash(built) == hash(probe)
    return build if same else (lambda number: uuid.UUID(int=number))


uuid_from_int: Final = _uuid_builder()
"""``uuid.UUID(int=n)`` for a known-valid ``n``, cheaper (same object as ``UUID`` builds)."""


RecordHeaders = Sequence[tuple[str, bytes | None]]
"""A transport record's headers as read: names and raw values (``None``: a null value)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an inbound message was read from (a Kafka record, a local queue...).

    A transport may also keep the record itself, exactly as it was read: a dead letter of the
    message then keeps those bytes (its value and headers), not a re-encoding of the message
    (which would change a foreign producer's casing, time format or content type). These
    fields take no part in comparisons and ``repr``.

    Attributes:
        transport: Transport name (``kafka``, ``local``...).
        topic: Topic (or queue) it was read from.
        partition: Partition, where the transport has them.
        offset: Offset (or row id) within it.
        key: The record's key as read, when the record is kept.
        value: The record's value as read, when the record is kept.
        headers: The record's headers as read (``None``: the record is not kept).
    """

    transport: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: bytes | None = field(default=None, repr=False, compare=False)
    value: bytes | None = field(default=None, repr=False, compare=False)
    headers: RecordHeaders | None = field(default=None, repr=False, compare=False)

    @property
    def has_record(self) -> bool:
        """Whether the record is kept as it was read (:attr:`key`, :attr:`value`, ...)."""
        return self.headers is not None


def _origin_factories() -> tuple[
    Callable[[str, str | None, int | None, int | None], Origin],
    Callable[
        [str, str, int, int, bytes | None, bytes | None, RecordHeaders],
        Origin,
    ],
]:
    """``Origin(...)`` without the frozen dataclass ``__init__``: the same object results.

    The generated ``__init__`` sets each field through ``object.__setattr__``; here the slots
    are filled directly.
    """
    new = object.__new__
    slots = Origin.__dict__
    set_transport, set_topic = slots["transport"].__set__, slots["topic"].__set__
    set_partition, set_offset = slots["partition"].__set__, slots["offset"].__set__
    set_key, set_value, set_headers = (
        slots["key"].__set__,
        slots["value"].__set__,
        slots["headers"].__set__,
    )

    def make(
        transport: str, topic: str | None, partition: int | None, offset: int | None
    ) -> Origin:
        origin: Origin = new(Origin)
        set_transport(origin, transport)
        set_topic(origin, topic)
        set_partition(origin, partition)
        set_offset(origin, offset)
        set_key(origin, None)
        set_value(origin, None)
        set_headers(origin, None)
        return origin

    def read(
        transport: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: RecordHeaders,
    ) -> Origin:
        origin: Origin = new(Origin)
        set_transport(origin, transport)
        set_topic(origin, topic)
        set_partition(origin, partition)
        set_offset(origin, offset)
        set_key(origin, key)
        set_value(origin, value)
        set_headers(origin, headers)
        return origin

    return make, read


new_origin, read_origin = _origin_factories()
"""``new_origin(transport, topic, partition, offset)``: ``Origin(...)``, cheaper.

``read_origin(transport, topic, partition, offset, key, value, headers)`` also keeps the
record as read (one per consumed Kafka record)."""


class Envelope:
    """A message with its identity, lineage, tenant and headers.

    Attributes:
        message: The message object itself.
        correlation_id: Identifier shared by every message caused by one original request.
        causation_id: ``message_id`` of the message whose handler produced this one.
        tenant_id: Tenant the message belongs to, when multi-tenant.
        headers: Extra string headers carried on the wire.
        attempts: How many times handling has been attempted (1 on the first try).
        source: URN of the service that produced the message.
        origin: Where the message was received from, for inbound messages.
    """

    __slots__ = (
        "_created",
        "_id_text",
        "_message_id",
        "attempts",
        "causation_id",
        "correlation_id",
        "headers",
        "message",
        "origin",
        "source",
        "tenant_id",
    )

    def __init__(
        self,
        message: Any,
        *,
        message_id: uuid.UUID | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        tenant_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        created: float | None = None,
        attempts: int = 1,
        source: str | None = None,
        origin: Origin | None = None,
    ) -> None:
        self.message = message
        self._message_id = message_id
        self._id_text: str | None = None
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self.tenant_id = tenant_id
        self.headers: dict[str, str] = dict(headers) if headers else {}
        self._created = time.time() if created is None else created
        self.attempts = attempts
        self.source = source
        self.origin = origin

    @property
    def message_id(self) -> uuid.UUID:
        """Unique id of this message (generated on first read unless given)."""
        mid = self._message_id
        if mid is None:
            text = self._id_text
            if text is None:
                text = self._id_text = new_message_id_text()
            mid = self._message_id = uuid_from_int(int(text.replace("-", ""), 16))
        return mid

    @property
    def message_id_text(self) -> str:
        """``str(self.message_id)`` (generated on first read unless given), kept once made."""
        text = self._id_text
        if text is None:
            mid = self._message_id
            text = self._id_text = new_message_id_text() if mid is None else str(mid)
        return text

    @property
    def has_message_id(self) -> bool:
        """Whether an id was given or already generated."""
        return self._message_id is not None or self._id_text is not None

    @property
    def message_type(self) -> str:
        """The wire type name of the message (``ce_type``)."""
        return message_type_name(type(self.message))

    @property
    def timestamp(self) -> datetime:
        """When the envelope was created, as an aware UTC datetime."""
        return datetime.fromtimestamp(self._created, UTC)

    @property
    def created(self) -> float:
        """When the envelope was created, as POSIX seconds."""
        return self._created

    def for_attempt(self, attempts: int) -> Envelope:
        """A copy of this envelope (same id and metadata) for another handling attempt."""
        copy = Envelope(
            self.message,
            message_id=self.message_id,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            tenant_id=self.tenant_id,
            headers=self.headers,
            created=self._created,
            attempts=attempts,
            source=self.source,
            origin=self.origin,
        )
        copy._id_text = self._id_text
        return copy

    def child(self, message: Any) -> Envelope:
        """An envelope for a message caused by this one.

        It has the same correlation, tenant, source and W3C trace context (the
        ``traceparent`` and ``tracestate`` headers, as they are: the trace goes on through
        every message a handler publishes, sends, schedules or returns); no other header.
        """
        parent_id = self.message_id_text
        headers = self.headers
        return Envelope(
            message,
            correlation_id=self.correlation_id or parent_id,
            causation_id=parent_id,
            tenant_id=self.tenant_id,
            headers={k: headers[k] for k in TRACE_HEADERS if k in headers} if headers else None,
            source=self.source,
        )

    def __repr__(self) -> str:
        mid = self._id_text or self._message_id or "<unassigned>"
        return f"Envelope({type(self.message).__qualname__}, id={mid}, tenant={self.tenant_id})"


def inbound_envelope(
    message: Any,
    message_id: uuid.UUID,
    correlation_id: str | None,
    causation_id: str | None,
    tenant_id: str | None,
    headers: dict[str, str],
    created: float | None,
    attempts: int,
    source: str | None,
    origin: Origin | None,
) -> Envelope:
    """``Envelope(message, message_id=..., ...)`` for a decoder: positional, no copies.

    ``headers`` is taken as is (not copied): the caller made it for this envelope.
    """
    envelope: Envelope = _new_envelope(Envelope)
    envelope.message = message
    envelope._message_id = message_id
    envelope._id_text = None
    envelope.correlation_id = correlation_id
    envelope.causation_id = causation_id
    envelope.tenant_id = tenant_id
    envelope.headers = headers
    envelope._created = time.time() if created is None else created
    envelope.attempts = attempts
    envelope.source = source
    envelope.origin = origin
    return envelope


def outgoing_envelope(
    message: Any, tenant_id: str | None, source: str | None, created: float
) -> Envelope:
    """``Envelope(message, tenant_id=..., source=..., created=...)``, positional, cheaper.

    A new message of its own (no correlation or causation): what a service's root bus
    publishes, once per event of ``bus.publish_many``.
    """
    envelope: Envelope = _new_envelope(Envelope)
    envelope.message = message
    envelope._message_id = None
    envelope._id_text = None
    envelope.correlation_id = None
    envelope.causation_id = None
    envelope.tenant_id = tenant_id
    envelope.headers = {}
    envelope._created = created
    envelope.attempts = 1
    envelope.source = source
    envelope.origin = None
    return envelope


_new_envelope: Final = object.__new__
