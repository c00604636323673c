"""Handlers in store transactions: the transactional outbox and the idempotent inbox.

While an :class:`OutboxSession` is active (a ``ContextVar``), integration events published
or cascaded by the running code become outbox rows of the session's transaction and local
deliveries wait for its commit, so nothing escapes a rollback. An inbound message's handler
runs in a session that first records ``(message id, handler)`` in the inbox: a redelivery of
a message whose handler already committed is acknowledged without running it again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from momentum.contracts.errors import ConfigurationError
from momentum.runtime.group_commit import GroupCommit, Pending
from momentum.runtime.inbox_lookup import InboxLookup
from momentum.runtime.store import MessageStore, OutgoingRecord, StoreTransaction

if TYPE_CHECKING:
    from momentum.contracts.envelope import Envelope
    from momentum.runtime.pipeline import HandlerChain
    from momentum.runtime.ports import DurableReceiver, Receiver

QUEUED_LIMIT = 5000
"""Handled messages waiting for the group commit at most before handlers wait for it."""

_active: ContextVar[OutboxSession | None] = ContextVar("momentum_outbox_session", default=None)


class OutboxSession:
    """Outgoing work of one store transaction: outbox rows and local deliveries.

    Attributes:
        transaction: The store transaction (its ``connection`` is for business writes);
            ``None`` while a handler that does not take it runs (the rows are written with
            its inbox row by the group commit afterwards).
        records: Outbox rows not yet written (written in one batch before commit).
        after_commit: Local deliveries to start once the transaction committed.
        written: Outbox rows written by this session.
    """

    __slots__ = ("after_commit", "records", "transaction", "written")

    def __init__(self, transaction: StoreTransaction | None) -> None:
        self.transaction = transaction
        self.records: list[OutgoingRecord] = []
        self.after_commit: list[Callable[[], None]] = []
        self.written = 0

    def add(self, record: OutgoingRecord) -> None:
        """Write ``record`` to the outbox with the transaction."""
        self.records.append(record)

    def defer(self, action: Callable[[], None]) -> None:
        """Run ``action`` (a local delivery) once the transaction committed."""
        self.after_commit.append(action)

    async def flush(self, transaction: StoreTransaction | None = None) -> None:
        """Write the buffered outbox rows into the (given) transaction."""
        tx = transaction or self.transaction
        if self.records and tx is not None:
            records, self.records = self.records, []
            await tx.add_outgoing(records)
            self.written += len(records)


def active_session() -> OutboxSession | None:
    """The session of the running handler, if it runs in a store transaction."""
    return _active.get()


def enter_session(session: OutboxSession) -> Token[OutboxSession | None]:
    """Make ``session`` the running code's session (its outbox rows and deferrals go there)."""
    return _active.set(session)


def leave_session(token: Token[OutboxSession | None]) -> None:
    """Undo :meth:`enter_session`."""
    _active.reset(token)


def current_transaction() -> StoreTransaction:
    """The store transaction of the running handler (what ``StoreTransaction`` injects)."""
    session = _active.get()
    if session is None or session.transaction is None:
        raise ConfigurationError(
            "no store transaction is active: StoreTransaction is injected into handlers run "
            "by a service with a message store (MOMENTUM_DATABASE_URL), or inside "
            "`async with bus.transaction():`"
        )
    return session.transaction


class Durability:
    """Runs handlers and user blocks in store transactions.

    Args:
        store: The service's message store.
        on_commit: Called with the number of outbox rows after each commit (wakes the relay).
        on_duplicate: Called for each redelivery skipped by the inbox.
    """

    def __init__(
        self,
        store: MessageStore,
        on_commit: Callable[[int], None],
        on_duplicate: Callable[[Envelope, str], None],
    ) -> None:
        self.store = store
        self._on_commit = on_commit
        self._on_duplicate = on_duplicate
        self.lookup = InboxLookup(store)
        self.commits = GroupCommit(store, self._group_committed, on_commit)
        self.settlers: list[Callable[[], Awaitable[None]]] = []
        """Other commit pipelines :meth:`settle` waits for (the actors' state saves)."""

    @asynccontextmanager
    async def session(self, connection: Any | None = None) -> AsyncIterator[OutboxSession]:
        """A session in a new store transaction, or the active one (joined) if any.

        With ``connection`` (a driver connection in a transaction of the caller's), the
        outbox rows are written in that transaction and the caller commits it; local
        deliveries start when the block ends.
        """
        outer = _active.get()
        if outer is not None and outer.transaction is not None and connection is None:
            yield outer
            return
        async with self.store.transaction(connection) as tx:
            session = OutboxSession(tx)
            token = _active.set(session)
            try:
                yield session
                await session.flush()
            finally:
                _active.reset(token)
        self._committed(session)

    def _group_committed(self, entry: Pending) -> None:
        self.lookup.forget(entry.key)
        for action in entry.session.after_commit:
            action()

    def _committed(self, session: OutboxSession) -> None:
        for action in session.after_commit:
            action()
        if session.written:
            self._on_commit(session.written)

    async def settle(self) -> None:
        """Return once every handled inbound message so far is committed to the inbox.

        Transports call it before committing their progress (Kafka offsets). That includes
        the messages of the pipelines in :attr:`settlers` (the actors' state saves).
        """
        await self.commits.settle()
        for settle in self.settlers:
            await settle()

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109
        """Commit what handlers left queued (for at most ``timeout`` seconds), then stop."""
        await self.commits.stop(timeout)
        self.lookup.close()

    def receiver(
        self, receive: Receiver, handlers: Callable[[type], Sequence[HandlerChain]]
    ) -> DurableReceiver:
        """``receive`` for a transport, with :meth:`settle` before it commits progress.

        Args:
            receive: The runtime's receiver.
            handlers: The handler chains of a message type (for inbox look-ups ahead).
        """
        return _InboxReceiver(receive, self, handlers)

    async def handle_inbound(self, chain: HandlerChain, envelope: Envelope) -> None:
        """Run ``chain`` on an inbound message once, recording it in the inbox.

        A handler that takes the ``StoreTransaction`` runs inside the transaction that holds
        its inbox row (after what earlier messages left queued has committed, so outbox rows
        keep their order). Any other handler runs outside a transaction (holding no database
        connection or SQLite write lock meanwhile); its inbox row, outbox rows and local
        deliveries are queued for the group commit, which writes many messages' rows in one
        transaction: the message counts as durably handled once :meth:`settle` returns.
        """
        own = chain.durable_inbound
        if own is not None:  # an actor: its state is saved with the inbox row
            await own(envelope)
            return
        message_id = envelope.message_id_text
        key = (message_id, chain.name)
        if chain.transactional:
            if self.commits.unsettled:
                await self.commits.settle()
            async with self.session() as session:
                assert session.transaction is not None
                if not await session.transaction.record_inbox(message_id, chain.name):
                    self._on_duplicate(envelope, chain.name)
                    return
                await chain.dispatch(envelope)
            self.lookup.forget(key)
            return
        if self.commits.holds(key):  # handled here moments ago, its commit queued
            self.lookup.forget(key)
            self._on_duplicate(envelope, chain.name)
            return
        if await self.lookup.recorded(key):
            self._on_duplicate(envelope, chain.name)
            return
        session = OutboxSession(None)
        token = _active.set(session)
        try:
            await chain.dispatch(envelope)
        finally:
            _active.reset(token)
        commits = self.commits
        commits.add(Pending(key, session, envelope))
        if commits.unsettled >= QUEUED_LIMIT:  # commits fall behind (or fail): hold the lane
            await commits.settle()


class _InboxReceiver:
    """A :class:`~momentum.runtime.ports.DurableReceiver` over the runtime's receive."""

    __slots__ = ("_durability", "_handlers", "_receive")

    def __init__(
        self,
        receive: Receiver,
        durability: Durability,
        handlers: Callable[[type], Sequence[HandlerChain]],
    ) -> None:
        self._receive = receive
        self._durability = durability
        self._handlers = handlers

    def __call__(self, envelope: Envelope) -> Awaitable[float | None]:
        return self._receive(envelope)

    async def settle(self) -> None:
        await self._durability.settle()

    def expect(self, envelopes: Sequence[Envelope]) -> None:
        handlers = self._handlers
        self._durability.lookup.ahead(
            [
                (envelope.message_id_text, chain.name)
                for envelope in envelopes
                for chain in handlers(type(envelope.message))
                if not chain.transactional
            ]
        )
