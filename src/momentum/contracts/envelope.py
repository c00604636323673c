"""``Envelope``: a message plus the metadata that travels with it.

Identifiers and timestamps are produced lazily: an in-process ``invoke`` that nobody
inspects never pays for a UUID. Once read, a value is fixed for the envelope's lifetime.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from momentum.contracts.message_types import message_type_name


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an inbound message was read from (a Kafka record, a local queue...)."""

    transport: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


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
            mid = self._message_id = uuid.uuid4()
        return mid

    @property
    def has_message_id(self) -> bool:
        """Whether an id was given or already generated."""
        return self._message_id is not None

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
        return copy

    def child(self, message: Any) -> Envelope:
        """An envelope for a message caused by this one (same correlation and tenant)."""
        parent_id = str(self.message_id)
        return Envelope(
            message,
            correlation_id=self.correlation_id or parent_id,
            causation_id=parent_id,
            tenant_id=self.tenant_id,
            source=self.source,
        )

    def __repr__(self) -> str:
        mid = self._message_id if self._message_id is not None else "<unassigned>"
        return f"Envelope({type(self.message).__qualname__}, id={mid}, tenant={self.tenant_id})"
