"""Ports: the small protocols that adapters (Kafka, stores) implement for the runtime."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

from momentum.contracts.envelope import Envelope
from momentum.runtime.store import OutgoingRecord

Receiver = Callable[[Envelope], Awaitable[float | None]]
"""Called by a transport for each inbound message. Returns ``None`` once the message is
finished (every handler succeeded, or its failure was dead-lettered or discarded): only then
may the transport commit it. Returns a delay in seconds when a handler asked for a delayed
retry: the transport must deliver the same envelope again after that delay, and keep later
messages with the same key waiting behind it (the runtime remembers which handlers already
succeeded and how many attempts each made)."""


@runtime_checkable
class DurableReceiver(Protocol):
    """A :data:`Receiver` backed by a message store's inbox.

    The runtime commits the inbox rows of handled messages in groups: a message the receiver
    returned ``None`` for counts as handled, but the transport may commit its progress past
    it (Kafka offsets) only after :meth:`settle` returned. A transport that knows which
    messages come next tells :meth:`expect`, so their inbox checks take one query.
    """

    def __call__(self, envelope: Envelope) -> Awaitable[float | None]:
        """Handle one inbound message (see :data:`Receiver`)."""
        ...

    async def settle(self) -> None:
        """Return once every message finished before the call is durably recorded.

        Raises:
            StoreError: The service stopped before that (commit nothing more).
        """
        ...

    def expect(self, envelopes: Sequence[Envelope]) -> None:
        """Messages queued for this receiver: look them up in the inbox ahead (one query)."""
        ...


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a transport sends one message.

    Attributes:
        topic: Full topic name (``dev.appdomain.public.cashiers.v1``).
        key: Partition key; ``None`` lets the transport key the record by message id.
    """

    topic: str
    key: str | None


@dataclass(frozen=True, slots=True)
class Subscription:
    """A topic a service consumes and the message types it handles from it.

    Attributes:
        topic: Full topic name.
        message_types: The handled classes published to that topic.
        owned: Whether the service owns the topic (its own packages define events published
            there): a record of a type it does not know is then poison, not another
            service's event to skip.
    """

    topic: str
    message_types: tuple[type, ...]
    owned: bool = False


@runtime_checkable
class Transport(Protocol):
    """Moves integration events between services (Kafka in production)."""

    name: str

    async def start(
        self, group: str, subscriptions: Sequence[Subscription], receiver: Receiver
    ) -> None:
        """Connect, and consume ``subscriptions`` as consumer group ``group``."""
        ...

    async def publish(self, envelope: Envelope, destination: Destination) -> None:
        """Send one message; returns once the transport has durably accepted it."""
        ...

    async def wait_idle(self) -> None:
        """Return once everything published so far has been received and handled (tests)."""
        ...

    async def stop(self) -> None:
        """Finish in-flight work, commit progress and disconnect."""
        ...


@runtime_checkable
class PausableTransport(Protocol):
    """A transport whose consumption can be paused without leaving its consumer group."""

    def pause(self) -> None:
        """Stop handing inbound messages to the receiver (in-flight ones finish)."""
        ...

    def resume(self) -> None:
        """Hand inbound messages to the receiver again."""
        ...


class Unsettled(enum.Enum):
    """The outcome of a record handed to a transport whose acknowledgement has not arrived."""

    PENDING = "pending"


PENDING: Literal[Unsettled.PENDING] = Unsettled.PENDING
"""A record's :data:`RecordOutcome` until its acknowledgement or failure arrives."""

RecordOutcome: TypeAlias = BaseException | Literal[Unsettled.PENDING] | None
"""What became of one record: ``None`` (acknowledged), its error, or :data:`PENDING`."""


@runtime_checkable
class RecordDeliveries(Protocol):
    """Records handed to a transport, whose acknowledgements arrive one by one."""

    def outcomes(self) -> list[RecordOutcome]:
        """Per record, in order: what is known of it now (a snapshot)."""
        ...

    async def wait(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until every record has its outcome, at most ``timeout`` seconds.

        Returns:
            ``True`` when every record is settled (none is :data:`PENDING`).
        """
        ...


class SettledDeliveries:
    """:class:`RecordDeliveries` whose outcomes are all known already.

    Args:
        outcomes: Per record: ``None`` (delivered) or its error.
    """

    def __init__(self, outcomes: Sequence[BaseException | None]) -> None:
        self._outcomes: list[RecordOutcome] = list(outcomes)

    def outcomes(self) -> list[RecordOutcome]:
        """Every record's outcome."""
        return list(self._outcomes)

    async def wait(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Settled already."""
        return True


@runtime_checkable
class RecordTransport(Protocol):
    """A transport that also sends pre-encoded wire records (outbox relay, batch publishing).

    The outbox stores what :meth:`encode` returns; the relay later hands those rows, possibly
    read back by another process, to :meth:`publish_records`.
    """

    def encode(self, envelope: Envelope, destination: Destination) -> OutgoingRecord:
        """The wire record for ``envelope`` at ``destination`` (key: given, else message id)."""
        ...

    async def publish_records(
        self, records: Sequence[OutgoingRecord]
    ) -> list[BaseException | None]:
        """Send ``records`` and wait until each is acknowledged or failed.

        Records with the same (destination, key) are sent in the given order.

        Returns:
            For each record, in order: ``None`` when delivered, else its error
            (a :class:`~momentum.contracts.errors.TransportError`).
        """
        ...

    async def start_records(self, records: Sequence[OutgoingRecord]) -> RecordDeliveries:
        """Send ``records`` (in order, as :meth:`publish_records`) without waiting for them.

        Returns once every record is handed over; the acknowledgements arrive on the
        returned :class:`RecordDeliveries` one by one (the outbox relay settles each row
        as its record is acknowledged, so one slow or failing record holds no other back).
        """
        ...


@runtime_checkable
class ConnectionChecking(Protocol):
    """A transport that can tell whether its brokers answer (health, readiness)."""

    async def check_connection(self, timeout: float) -> None:  # noqa: ASYNC109
        """Ask the brokers for metadata; raises :class:`TransportError` if none answers."""
        ...


@runtime_checkable
class LagReporting(Protocol):
    """A transport that knows how far its consumer is behind (telemetry gauges)."""

    async def consumer_lag(self) -> dict[tuple[str, int], int]:
        """Per assigned ``(topic, partition)``: records on the broker not consumed yet."""
        ...


@runtime_checkable
class RawRecordTransport(Protocol):
    """A transport that sends a record exactly as given, its key as bytes (replays)."""

    async def publish_raw(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        """Send one record and wait until it is acknowledged.

        Raises:
            TransportError: It was not delivered.
        """
        ...


class EnvelopeBatch(Protocol):
    """Envelopes handed to a transport one by one, acknowledged together (``publish_many``)."""

    def add(self, envelope: Envelope, topic: str, key: str | None) -> bool:
        """Encode and send ``envelope``; ``False``: nothing sent, :meth:`wait` and add again."""
        ...

    def add_new(self, message: Any, topic: str, key: str | None, tenant_id: str | None) -> bool:
        """:meth:`add` of a new message without its envelope (the root bus publishing).

        The record is that of ``Envelope(message, tenant_id=tenant_id)`` with a fresh message
        id and the batch's source and creation time (:meth:`BatchTransport.publish_batch`).
        """
        ...

    async def wait(self) -> None:
        """Wait until the envelope :meth:`add` refused can be added."""
        ...

    def close(self) -> None:
        """No more envelopes (after a failure: what was sent is still acknowledged)."""
        ...

    async def settle(self) -> None:
        """Close, wait for every acknowledgement, raise the first failure."""
        ...


@runtime_checkable
class BatchTransport(Protocol):
    """A transport that publishes batches of envelopes (the Kafka transport)."""

    def publish_batch(self, source: str, created: float) -> EnvelopeBatch:
        """A new, empty batch; ``source`` and ``created`` are those of its new messages."""
        ...


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A record a transport could not decode (poison), as it was read.

    Attributes:
        topic: Topic it was read from.
        partition: Its partition.
        offset: Its offset.
        key: Its key, as read.
        value: Its value, as read.
        headers: Its headers, as read.
        reason: Why it was rejected (``invalid-json``, ``schema-mismatch``...).
        error: The decoding error.
        failed_at: When it was rejected (POSIX seconds).
        copy_note: What became of its copy on the transport's dead-letter topic when that
            copy is not there whole (``on t.dlq without its value (...)``, ``not on t.dlq:
            ...``); empty otherwise.
    """

    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    reason: str
    error: BaseException
    failed_at: float
    copy_note: str = ""


@runtime_checkable
class AssignedTransport(Protocol):
    """A transport that knows which partitions it consumes now (Kafka)."""

    @property
    def assignment(self) -> list[tuple[str, int]]:
        """The ``(topic, partition)`` pairs this consumer handles now."""
        ...


RevokeListener = Callable[[Sequence[tuple[str, int]]], Coroutine[Any, Any, None]]
"""Told which ``(topic, partition)`` pairs a transport stopped consuming (see
:class:`RevokingTransport`)."""


@runtime_checkable
class RevokingTransport(Protocol):
    """A transport that says when partitions it consumed are taken away (Kafka rebalances).

    The runtime deactivates the actors whose messages came from them (their state saved)
    before the transport commits its progress for them.
    """

    def on_revoked(self, listener: RevokeListener) -> None:
        """Await ``listener`` for partitions revoked or lost.

        For a revoke, after their running handlers finished and before their offsets are
        committed.
        """
        ...


RejectedSink = Callable[[Sequence[RejectedRecord]], Coroutine[Any, Any, None]]
"""Keeps a batch of rejected records (the runtime writes them to the store's dead letters in
one transaction); raises when they could not be kept."""


@runtime_checkable
class RejectingTransport(Protocol):
    """A transport that reports the records it rejects as undecodable."""

    def on_rejected(self, sink: RejectedSink) -> None:
        """Hand rejected records to ``sink`` in batches; each counts as done once kept.

        A record is kept once ``sink`` returned for its batch (a transport retries a batch
        ``sink`` failed for).
        """
        ...


@runtime_checkable
class TenantFilteringTransport(Protocol):
    """A transport that skips inbound records of other tenants before decoding them.

    Skipped records are acknowledged (committed) without reaching the receiver, neither
    handled nor dead-lettered.
    """

    def only_tenants(self, tenants: frozenset[str]) -> None:
        """From the next start, hand over only records of ``tenants`` (called before start)."""
        ...

    @property
    def tenant_skipped(self) -> int:
        """Records of other tenants (or without one) skipped since start."""
        ...
