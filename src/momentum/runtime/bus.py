"""``MessageBus``: invoke, publish, send and schedule messages.

``service.bus`` is the root bus. A handler that takes a ``MessageBus`` parameter gets one
bound to the message it handles, so what it publishes carries that message's correlation id,
tenant and causation.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from momentum.contracts.envelope import Envelope, outgoing_envelope
from momentum.contracts.errors import ConfigurationError
from momentum.contracts.messages import Command, Query
from momentum.contracts.tenancy import current_tenant, tenant_of

if TYPE_CHECKING:
    from momentum.runtime.core import BusRuntime
    from momentum.runtime.store import StoreTransaction

R = TypeVar("R")


class MessageBus:
    """Entry point for sending messages: in-process, to local queues, or to a transport."""

    __slots__ = ("_caller", "_envelope", "_message", "_runtime")

    def __init__(
        self,
        runtime: BusRuntime,
        message: Any = None,
        envelope: Envelope | None = None,
        caller: MessageBus | None = None,
    ) -> None:
        self._runtime = runtime
        self._message = message
        self._envelope = envelope
        self._caller = caller

    @property
    def envelope(self) -> Envelope | None:
        """Envelope of the message this bus is bound to (``None`` for the root bus)."""
        if self._message is None:
            return None
        env = self._envelope
        if env is None:
            env = self._envelope = (
                self._caller.envelope_for(self._message)
                if self._caller is not None
                else self._root_envelope(self._message)
            )
        return env

    def envelope_for(self, message: Any, headers: dict[str, str] | None = None) -> Envelope:
        """A new envelope for ``message``, caused by the message this bus is bound to."""
        parent = self.envelope
        if parent is None:
            env = self._root_envelope(message)
        else:
            env = parent.child(message)
            scoped = current_tenant()
            if scoped is not None:
                env.tenant_id = scoped
            elif env.tenant_id is None:
                env.tenant_id = tenant_of(message)
        if headers:
            env.headers.update(headers)
        return env

    def _root_envelope(self, message: Any) -> Envelope:
        return outgoing_envelope(message, tenant_of(message), self._runtime.source, time.time())

    @overload
    async def invoke(self, message: Command[R]) -> R: ...
    @overload
    async def invoke(self, message: Query[R]) -> R: ...
    @overload
    async def invoke(self, message: object) -> Any: ...
    async def invoke(self, message: Any) -> Any:
        """Run the message's single handler now and return its response.

        Messages the handler returns besides the response are published after it succeeds.
        Exceptions propagate with the message id attached (``exc.momentum_message_id``).
        """
        try:
            run = self._runtime.invokers[type(message)]
        except KeyError:
            run = self._runtime.invoker_for(message)
        return await run(message, self)

    async def publish(self, message: Any, *, headers: dict[str, str] | None = None) -> None:
        """Publish an event to every local handler and to its transport route, if any."""
        await self._runtime.publish(self.envelope_for(message, headers))

    async def publish_many(self, messages: Iterable[Any]) -> None:
        """Publish several events at once: one batch to the transport, awaited together.

        Integration events bound for the transport are encoded and handed over in one batch
        whose acknowledgements are awaited together (inside a store transaction they become
        outbox rows, as with :meth:`publish`); any other message is published as by
        :meth:`publish`, in order. Publishing middleware does not run for batches.
        ``messages`` is read once, as the batch is sent (a generator works). Events published
        together by the service's root bus share one creation time (CloudEvents ``time``):
        the moment of the call.

        Raises:
            TransportError: The first record the transport failed to deliver (the others
                of the batch were still sent).
        """
        if self._message is None:  # the root bus: new messages of this service
            await self._runtime.publish_new(messages, time.time())
            return
        await self._runtime.publish_many(self.envelope_for(message) for message in messages)

    async def send(self, message: Any, *, headers: dict[str, str] | None = None) -> None:
        """Queue a command for its single handler; returns once it is accepted."""
        await self._runtime.send(self.envelope_for(message, headers))

    async def schedule(
        self,
        message: Any,
        *,
        delay: timedelta | float | None = None,
        at: datetime | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Deliver ``message`` later: after ``delay`` (seconds or timedelta) or ``at`` a time.

        Commands are sent, other messages published, when they come due.
        """
        if (delay is None) == (at is None):
            raise ValueError("schedule() takes exactly one of delay= or at=")
        if at is not None:
            if at.tzinfo is None:
                raise ValueError("schedule(at=...) needs a timezone-aware datetime")
            due = at.timestamp()
        else:
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay or 0)
            due = time.time() + seconds
        await self._runtime.schedule(self.envelope_for(message, headers), due)

    @asynccontextmanager
    async def transaction(self, connection: Any = None) -> AsyncIterator[StoreTransaction]:
        """A store transaction whose publishes go to the outbox (the transactional outbox).

        ```python
        async with pool.connection() as conn, conn.transaction():   # psycopg
            await conn.execute("insert into invoices ...")
            async with service.bus.transaction(conn):
                await service.bus.publish(InvoiceCreated(...))
        ```

        Without ``connection`` the store opens and commits its own transaction (use
        ``tx.connection`` for business writes). With one (a psycopg ``AsyncConnection`` in a
        transaction on PostgreSQL, an ``aiosqlite.Connection`` after ``BEGIN`` on SQLite),
        the outbox rows join that transaction and commit or roll back with it; local
        deliveries start when the block ends. Inside a handler that already runs in a
        transaction, the block joins it.

        Raises:
            ConfigurationError: The service has no message store.
        """
        durability = self._runtime.durability
        if durability is None:
            raise ConfigurationError(
                f"{self._runtime.source} has no message store; bus.transaction() needs one "
                "(MOMENTUM_DATABASE_URL)"
            )
        async with durability.session(connection) as session:
            assert session.transaction is not None  # a session opened here always has one
            yield session.transaction

    def __repr__(self) -> str:
        bound = f" bound to {type(self._message).__qualname__}" if self._message is not None else ""
        return f"<MessageBus {self._runtime.source}{bound}>"
