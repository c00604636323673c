"""Handlers in store transactions: the transactional outbox and the idempotent inbox.

While an :class:`OutboxSession` is active (a ``ContextVar``), integration events published
or cascaded by the running code become outbox rows of the session's transaction and local
deliveries wait for its commit, so nothing escapes a rollback. An inbound message's handler
runs in a session that first records ``(message id, handler)`` in the inbox: a redelivery of
a message whose handler already committed is acknowledged without running it again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from momentum.contracts.errors import ConfigurationError
from momentum.runtime.store import MessageStore, OutgoingRecord, StoreTransaction

if TYPE_CHECKING:
    from momentum.contracts.envelope import Envelope
    from momentum.runtime.pipeline import HandlerChain

logger = logging.getLogger("momentum.outbox")

_active: ContextVar[OutboxSession | None] = ContextVar("momentum_outbox_session", default=None)


class OutboxSession:
    """Outgoing work of one store transaction: outbox rows and local deliveries.

    Attributes:
        transaction: The store transaction (its ``connection`` is for business writes);
            ``None`` while a handler that does not take it runs (the rows are written with
            its inbox row in a short transaction afterwards).
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

    def _committed(self, session: OutboxSession) -> None:
        for action in session.after_commit:
            action()
        if session.written:
            self._on_commit(session.written)

    async def handle_inbound(self, chain: HandlerChain, envelope: Envelope) -> None:
        """Run ``chain`` on an inbound message once, recording it in the inbox.

        A handler that takes the ``StoreTransaction`` runs inside the transaction that holds
        its inbox row. Any other handler runs outside a transaction (holding no database
        connection or SQLite write lock meanwhile); its outbox rows and inbox row are then
        written together in one short transaction.
        """
        message_id = str(envelope.message_id)
        if chain.transactional:
            async with self.session() as session:
                assert session.transaction is not None
                if not await session.transaction.record_inbox(message_id, chain.name):
                    self._on_duplicate(envelope, chain.name)
                    return
                await chain.dispatch(envelope)
            return
        if await self.store.inbox_contains(message_id, chain.name):
            self._on_duplicate(envelope, chain.name)
            return
        session = OutboxSession(None)
        token = _active.set(session)
        try:
            await chain.dispatch(envelope)
        finally:
            _active.reset(token)
        async with self.store.transaction() as tx:
            if not await tx.record_inbox(message_id, chain.name):
                logger.warning(
                    "%s handled %s %s while another delivery of it committed first; its "
                    "messages were written by that delivery",
                    chain.name,
                    envelope.message_type,
                    message_id,
                )
                return
            await session.flush(tx)
        self._committed(session)
