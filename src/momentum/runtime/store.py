"""The message store port: transactional outbox, idempotent inbox, dead letters, actor states.

A handler's cascaded and published messages are written as outbox rows in the same database
transaction as its business writes and its inbox row. A relay then claims due rows with a lease,
publishes them, and marks them sent. Adapters (``momentum.sqlite``, ``momentum.postgres``)
implement :class:`MessageStore`; the runtime depends only on this module, never on a driver.

Ordering rule shared by every adapter: rows are ordered by their row id within a *stream*, the
pair (destination, key). A claim never returns a row while an older unsent row of its stream is
not returned by the same claim, so a stream is published in id order even with several relays.
Rows without a key form no stream. A row added with a future ``available_at`` (a scheduled
message) joins its stream only once due; a row released with a delay (a retry) keeps its place
and holds back the rows behind it.

Times are POSIX timestamps (seconds, ``float``) from the store's clock.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from momentum.runtime.actor_states import ActorStateReads, ActorStateTransaction

T = TypeVar("T")

InboxKey = tuple[str, str]
"""``(message id, handler)``: one handler's handling of one inbound message."""

LOCAL_PREFIX = "local:"
"""Destination prefix of durable local queue rows: ``local:<consumer group>/<handler>``."""


def local_destination(group: str, handler: str) -> str:
    """The destination of a durable local queue row of ``handler`` in service ``group``.

    The group keeps services that share a database (one SQLite file, one schema) apart.
    """
    return f"{LOCAL_PREFIX}{group}/{handler}"


def local_handler(destination: str) -> str:
    """The handler name of a durable local queue destination."""
    return destination.removeprefix(LOCAL_PREFIX).rpartition("/")[2]


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One message exactly as it goes on the wire.

    Attributes:
        message_id: The message id (``ce_id``).
        destination: A Kafka topic, or ``local:<group>/<handler>`` for a durable local queue.
        key: Partition key; ``None`` lets the transport key the record by message id.
        headers: Wire headers in order (CloudEvents binary mode ``ce_*`` headers...).
        body: Wire payload.
        available_at: Earliest publication time; ``None`` means now.
    """

    message_id: str
    destination: str
    key: str | None
    headers: list[tuple[str, bytes]]
    body: bytes
    available_at: float | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """An outbox row as returned by :meth:`MessageStore.claim`.

    Attributes:
        id: Row id; increases in commit order within a stream.
        record: The wire record.
        attempts: How many times the row was released after a failed publication.
        created_at: When the row was written.
        available_at: When the row was (or becomes) due.
        owner: The relay holding the lease, if any.
        lease_until: When that lease expires.
        last_error: The error given with the last release, if any.
    """

    id: int
    record: OutgoingRecord
    attempts: int
    created_at: float
    available_at: float
    owner: str | None
    lease_until: float | None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that kept failing, with what is known about its failure.

    Attributes:
        record: The message in wire form; ``destination`` is where a replay sends it.
        message_type: The wire type name (``ce_type``), when known.
        exception_type: Fully qualified name of the last exception.
        exception_message: ``str()`` of the last exception.
        stack: Formatted traceback of the last exception.
        attempts: How many times handling or publication was attempted.
        first_failure_at: Time of the first failure.
        last_failure_at: Time of the last failure.
        origin_topic: Topic the message was consumed from, if any.
        origin_partition: Partition it was consumed from, if any.
        origin_offset: Offset it was consumed from, if any.
        handler: The handler that failed, if any (``None`` for relay failures).
        tenant: Tenant of the message, if any.
        group: Consumer group of the service that wrote it: only that service lists,
            replays and purges it (services may share one SQLite file). ``None`` for
            letters written before the store knew groups (every service sees those).
        id: Row id, set by the store (``None`` before it is stored).
        raw_key: The record's key exactly as it was read (bytes), when the letter keeps a
            record read from a transport (``record.key`` is then its text, invalid UTF-8
            replaced); ``None`` for other letters, whose key is ``record.key``.

    Stores keep every field as given, except that text fields hold no NUL character (each
    becomes U+FFFD: PostgreSQL text cannot hold it); the bytes of a record as it was read
    are in ``record.headers``, ``record.body`` and ``raw_key``.
    """

    record: OutgoingRecord
    message_type: str | None
    exception_type: str
    exception_message: str
    stack: str
    attempts: int
    first_failure_at: float
    last_failure_at: float
    origin_topic: str | None = None
    origin_partition: int | None = None
    origin_offset: int | None = None
    handler: str | None = None
    tenant: str | None = None
    group: str | None = None
    id: int | None = None
    raw_key: bytes | None = None


def storable_text(text: str | None) -> str | None:
    """``text`` as a store keeps a dead letter's text field: NUL characters as U+FFFD."""
    if text is None or "\x00" not in text:
        return text
    return text.replace("\x00", "\ufffd")


MAX_TEXT_KEY_BYTES = 1024
"""Longest key a replay writes to the outbox as text (its stream index holds it)."""


def text_key(raw: bytes) -> str | None:
    """``raw`` as the outbox's text key, or ``None`` when the text could not stand for it.

    Valid UTF-8 without NUL and at most :data:`MAX_TEXT_KEY_BYTES` bytes: what every store
    keeps in its text key column (and its stream index) and the transport encodes back to
    the same bytes.
    """
    if len(raw) > MAX_TEXT_KEY_BYTES or b"\x00" in raw:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Selects dead letters; every given criterion must match (``None`` matches all).

    Attributes:
        ids: Only these row ids.
        message_type: Exact wire type name.
        exception_type: Exact exception type name.
        since: Last failure at or after this time.
        until: Last failure before this time.
        tenant: Exact tenant.
        group: Letters of this consumer group, and those of no known group.
        limit: At most this many (oldest first); ``None`` for all.
    """

    ids: Sequence[int] | None = None
    message_type: str | None = None
    exception_type: str | None = None
    since: float | None = None
    until: float | None = None
    tenant: str | None = None
    group: str | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """Rows deleted by :meth:`MessageStore.purge`.

    Attributes:
        outbox: Sent outbox rows deleted.
        inbox: Inbox rows deleted.
    """

    outbox: int
    inbox: int


@dataclass(frozen=True, slots=True)
class StoreStats:
    """A snapshot of the store for health checks and metrics.

    Attributes:
        backlog: Unsent outbox rows (scheduled ones included).
        oldest_pending_age_seconds: How long the oldest due unsent row has been due (0 if none).
        dead_letters: Rows in the dead letter table.
        inbox_size: Rows in the inbox.
    """

    backlog: int
    oldest_pending_age_seconds: float
    dead_letters: int
    inbox_size: int


@runtime_checkable
class StoreTransaction(ActorStateTransaction, Protocol):
    """Store operations inside one database transaction (the caller's or the store's)."""

    @property
    def connection(self) -> Any:
        """The driver connection, for business writes in the same transaction."""
        ...

    async def add_outgoing(self, records: Sequence[OutgoingRecord]) -> list[int]:
        """Write outbox rows; they become claimable when the transaction commits.

        Returns:
            The new row ids, in the order of ``records``.
        """
        ...

    async def record_inbox(self, message_id: str, handler: str) -> bool:
        """Record that ``handler`` handled ``message_id``.

        Returns:
            ``False`` when it was already recorded (a redelivery: skip the handler).
        """
        ...

    async def record_inboxes(self, keys: Sequence[InboxKey]) -> list[bool]:
        """Record several ``(message id, handler)`` pairs in one statement (group commit).

        Returns:
            For each key, in order: ``True`` when this call recorded it, ``False`` when it
            was already recorded (or appears earlier in ``keys``).
        """
        ...

    async def add_dead_letter(self, dead_letter: DeadLetter) -> int:
        """Store a dead letter; returns its row id."""
        ...

    async def add_dead_letters(self, dead_letters: Sequence[DeadLetter]) -> None:
        """Store several dead letters at once (a batch of poison), in order (ids ascending)."""
        ...

    async def take_dead_letters(self, ids: Sequence[int]) -> list[DeadLetter]:
        """Remove and return dead letters, to replay them (add their records as outgoing)."""
        ...

    async def cancel_outgoing(self, destination: str, message_ids: Sequence[str]) -> int:
        """Mark unsent rows of ``destination`` with these message ids as done (not sent).

        For scheduled messages that are no longer wanted (an actor's replaced reminder).

        Returns:
            How many rows were cancelled.
        """
        ...


@runtime_checkable
class ClaimedRows(Protocol):
    """Outbox rows claimed for publication by :meth:`MessageStore.claimed`."""

    @property
    def rows(self) -> list[StoredMessage]:
        """The rows, oldest first (empty when nothing was claimable)."""
        ...

    async def complete(self, ids: Sequence[int]) -> None:
        """Mark rows as sent."""
        ...

    async def release(
        self, ids: Sequence[int], *, available_at: float | None = None, error: str | None = None
    ) -> None:
        """Give rows back after a failed publication, counting an attempt.

        As :meth:`MessageStore.release`: ``available_at`` delays the rows.
        """
        ...

    async def bury(self, row_id: int, letter: DeadLetter) -> None:
        """Store ``letter`` for the row and mark the row done."""
        ...

    async def lease(self, ids: Sequence[int], lease_seconds: float) -> None:
        """Keep rows for this claim's owner after the block ends, for ``lease_seconds``.

        For rows whose publication outlasts the block: nobody claims them while the lease
        holds (:meth:`MessageStore.extend_lease` renews it); they are settled afterwards
        with :meth:`MessageStore.complete` and :meth:`MessageStore.release`.
        """
        ...


class LeasedRows:
    """:class:`ClaimedRows` of a store that leases them (each call commits on its own).

    Args:
        store: The store the rows were claimed from with :meth:`MessageStore.claim`.
        owner: The lease owner.
        rows: The claimed rows.
    """

    def __init__(self, store: MessageStore, owner: str, rows: list[StoredMessage]) -> None:
        self._store = store
        self._owner = owner
        self._rows = rows

    @property
    def rows(self) -> list[StoredMessage]:
        """The claimed rows, oldest first."""
        return self._rows

    async def complete(self, ids: Sequence[int]) -> None:
        """Mark rows as sent."""
        await self._store.complete(ids)

    async def release(
        self, ids: Sequence[int], *, available_at: float | None = None, error: str | None = None
    ) -> None:
        """Unlease rows, counting an attempt (rows taken over meanwhile are left alone)."""
        await self._store.release(ids, owner=self._owner, available_at=available_at, error=error)

    async def bury(self, row_id: int, letter: DeadLetter) -> None:
        """Store ``letter``, then mark the row done."""
        await bury(self._store, row_id, letter)

    async def lease(self, ids: Sequence[int], lease_seconds: float) -> None:
        """Renew the lease of rows still leased by this owner."""
        await self._store.extend_lease(ids, owner=self._owner, lease_seconds=lease_seconds)


async def bury(store: MessageStore, row_id: int, letter: DeadLetter) -> None:
    """Store ``letter`` for the outbox row ``row_id``, then mark the row done."""
    async with store.transaction() as tx:
        await tx.add_dead_letter(letter)
    await store.complete([row_id])


@runtime_checkable
class MessageStore(ActorStateReads, Protocol):
    """Outbox, inbox and dead letters in one database, shared by the processes of a service."""

    async def open(self) -> None:
        """Connect and create or migrate the schema.

        Raises:
            StoreError: The database is unreachable (the URL is named with its password
                masked), or its schema version is newer than this code's.
        """
        ...

    async def close(self) -> None:
        """Release connections and background tasks; idempotent."""
        ...

    def transaction(
        self, connection: Any | None = None
    ) -> AbstractAsyncContextManager[StoreTransaction]:
        """A transaction that commits on success and rolls back on error.

        Args:
            connection: A driver connection with a transaction of the caller's: the store
                enlists in it and neither commits nor rolls back; the caller does.
        """
        ...

    async def claim(
        self, destination_prefix: str, owner: str, limit: int, lease_seconds: float
    ) -> list[StoredMessage]:
        """Lease due unsent rows whose destination starts with ``destination_prefix``.

        Rows come oldest first, and never a row whose stream (destination, key) has an older
        unsent row that this claim does not return, so concurrent relays keep per-key order.
        A row whose lease expired (its relay crashed) can be claimed again.
        """
        ...

    def claimed(
        self, destination_prefix: str, owner: str, limit: int, lease_seconds: float
    ) -> AbstractAsyncContextManager[ClaimedRows]:
        """Rows claimed as :meth:`claim` claims them, held while the block runs (the relay).

        Settle each row inside the block (:class:`ClaimedRows`); a row left unsettled is
        claimable again afterwards, with no attempt counted. A store may hold the rows by
        row locks in a transaction that ends with the block (PostgreSQL: nothing written to
        claim them; a holder that dies frees them at once, one idle longer than
        ``lease_seconds`` is disconnected) or lease them as :meth:`claim` does (SQLite: its
        single writer must not wait for a publication).
        """
        ...

    async def complete(self, ids: Sequence[int]) -> None:
        """Mark rows as sent (idempotent; also valid after the lease expired)."""
        ...

    async def release(
        self,
        ids: Sequence[int],
        *,
        owner: str,
        available_at: float | None = None,
        error: str | None = None,
    ) -> int:
        """Give leased rows back after a failed publication; counts an attempt.

        Rows no longer leased by ``owner`` (the lease expired and was taken over) are left
        alone. ``available_at`` delays the rows (their stream waits for them).

        Returns:
            How many rows were released.
        """
        ...

    async def extend_lease(self, ids: Sequence[int], *, owner: str, lease_seconds: float) -> int:
        """Lease unsent rows still leased by ``owner`` for ``lease_seconds`` from now.

        Rows taken over by another owner, or sent, are left alone.

        Returns:
            How many rows were renewed.
        """
        ...

    async def purge(self, sent_before: float, inbox_before: float) -> PurgeCounts:
        """Delete outbox rows sent before ``sent_before`` and older inbox rows."""
        ...

    async def inbox_recorded(self, keys: Sequence[InboxKey]) -> set[InboxKey]:
        """Which of ``keys`` (message id, handler) are committed in the inbox (one query)."""
        ...

    async def dead_letters(self, where: DeadLetterFilter | None = None) -> list[DeadLetter]:
        """List dead letters, oldest first."""
        ...

    async def purge_dead_letters(self, where: DeadLetterFilter | None = None) -> int:
        """Delete dead letters; returns how many."""
        ...

    async def stats(self) -> StoreStats:
        """Counts for health checks and metrics."""
        ...

    async def wait_for_work(self, max_wait: float, *, destination_prefix: str = "") -> bool:
        """Wait until rows may be claimable: new commits, a due time, or an expired lease.

        Args:
            max_wait: Seconds to wait at most.
            destination_prefix: Only rows for these destinations count (as in ``claim``).

        Returns:
            ``True`` when there may be work, ``False`` when ``max_wait`` passed without any.
        """
        ...


@dataclass(frozen=True, slots=True)
class ClaimCandidate:
    """An unsent row seen while planning a claim (used by the adapters).

    Attributes:
        id: Row id.
        destination: Stream destination.
        key: Stream key.
        available_at: Due time.
        lease_until: Lease expiry, if leased.
    """

    id: int
    destination: str
    key: str | None
    available_at: float
    lease_until: float | None

    def eligible(self, now: float) -> bool:
        """Whether the row is due and not leased at ``now``."""
        return self.available_at <= now and (self.lease_until is None or self.lease_until <= now)


def claimable_followers(
    followers: Sequence[ClaimCandidate], now: float, limit: int
) -> list[ClaimCandidate]:
    """The rows that may join a claim behind the stream heads it already holds.

    Args:
        followers: The unsent rows of the claimed streams behind their heads, in id order.
        now: The claim's time.
        limit: At most this many.

    Returns:
        For each stream, its longest run of eligible rows right behind the head (a row that
        is not eligible blocks every later row of its stream), in id order.
    """
    blocked: set[tuple[str, str | None]] = set()
    taken: list[ClaimCandidate] = []
    for row in followers:
        if len(taken) >= limit:
            break
        stream = (row.destination, row.key)
        if stream in blocked:
            continue
        if row.eligible(now):
            taken.append(row)
        else:
            blocked.add(stream)
    return taken


async def shielded(coroutine: Coroutine[Any, Any, T]) -> T:
    """Await ``coroutine`` so that cancelling the caller does not interrupt it.

    A driver call cut halfway can leave its connection in a bad state; the call finishes on
    its own and its outcome, if nobody awaits it any more, is retrieved (not reported as an
    unretrieved task exception).
    """
    task = asyncio.ensure_future(coroutine)
    task.add_done_callback(_retrieve)
    return await asyncio.shield(task)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


class WakeSignal:
    """Wakes every waiter holding a ticket taken before :meth:`set` (used by the adapters).

    Unlike clearing a shared ``asyncio.Event``, no waiter can consume a wake-up meant for
    another (a relay and a local queue waiting on one store).
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ticket(self) -> asyncio.Event:
        """An event set by the next :meth:`set`; take it before looking for work."""
        return self._event

    def set(self) -> None:
        """Wake every ticket taken so far."""
        event, self._event = self._event, asyncio.Event()
        event.set()


def first_occurrences(keys: Sequence[InboxKey], fresh: set[InboxKey]) -> list[bool]:
    """For each of ``keys``: whether it is in ``fresh`` and not seen earlier in ``keys``.

    What :meth:`StoreTransaction.record_inboxes` returns, from the keys an insert reported
    as new.
    """
    seen: set[InboxKey] = set()
    result: list[bool] = []
    for key in keys:
        result.append(key in fresh and key not in seen)
        seen.add(key)
    return result


_PASSWORD_PARAMETER = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """``url`` (a URL or a ``key=value`` connection string) with its password as ``***``."""
    masked = url
    scheme, sep, rest = url.partition("://")
    if sep:
        netloc, slash, tail = rest.partition("/")
        userinfo, at, host = netloc.rpartition("@")
        if at and ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
        masked = f"{scheme}://{netloc}{slash}{tail}"
    return _PASSWORD_PARAMETER.sub(r"\1***", masked)
