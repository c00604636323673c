"""``BatchPublisher``: ``bus.publish_many`` of a runtime, its messages handed over as a batch.

With a transport that takes batches (:class:`~momentum.runtime.ports.BatchTransport`), each
transport-bound message is encoded and handed over as it comes and the acknowledgements of the
whole batch are awaited together; on the root bus, outside a store transaction and with no
tracker or telemetry, new messages are handed over without an envelope
(:meth:`~momentum.runtime.ports.EnvelopeBatch.add_new`). Messages without a topic, and every
message inside a store transaction, are published one by one through the runtime.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from momentum.contracts.envelope import Envelope, outgoing_envelope
from momentum.contracts.partitioning import partition_key, partition_key_function
from momentum.contracts.tenancy import handling_tenant, tenant_of
from momentum.runtime.bus import check_isolation
from momentum.runtime.outbox import active_session
from momentum.runtime.ports import BatchTransport, Destination, EnvelopeBatch, RecordTransport
from momentum.runtime.store import OutgoingRecord

if TYPE_CHECKING:
    from momentum.runtime.core import BusRuntime

BatchRoute = tuple[str, Callable[[Any], "str | None"]]
"""The topic of a message class and its partition-key function."""


class BatchPublisher:
    """Publishes batches of messages for ``runtime`` (see the module)."""

    def __init__(self, runtime: BusRuntime) -> None:
        self.runtime = runtime
        self._routes: dict[type, BatchRoute | None] = {}

    async def publish_many(self, envelopes: Iterable[Envelope]) -> None:
        """Publish ``envelopes``: transport-bound ones as one batch of records, others singly.

        ``envelopes`` is consumed once, in order; with a transport that has batches
        (:class:`BatchTransport`) each envelope is encoded and handed over as it comes (a
        lazy iterable keeps nothing of a sent event alive), and the acknowledgements of the
        whole batch are awaited together at the end.
        """
        runtime = self.runtime
        transport = runtime.transport
        if transport is None or active_session() is not None:
            for envelope in envelopes:
                await runtime.publish(envelope)
            return
        if isinstance(transport, BatchTransport):
            await self._publish_batch(
                transport.publish_batch(runtime.source, time.time()), envelopes
            )
            return
        if not isinstance(transport, RecordTransport):
            for envelope in envelopes:
                await runtime.publish(envelope)
            return
        records: list[OutgoingRecord] = []
        for envelope in envelopes:
            message = envelope.message
            topic = runtime.topic_of(type(message))
            if topic is None:
                await runtime.publish(envelope)
                continue
            runtime.record("published", envelope)
            destination = Destination(topic, partition_key(message))
            telemetry = runtime.telemetry
            if telemetry is None:
                records.append(transport.encode(envelope, destination))
                continue
            with telemetry.producing(envelope, "publish", topic, destination.key):
                records.append(transport.encode(envelope, destination))
        if records:
            outcomes = await transport.publish_records(records)
            for outcome in outcomes:
                if outcome is not None:
                    raise outcome

    async def publish_new(self, messages: Iterable[Any], created: float) -> None:
        """:meth:`publish_many` of new messages of this service (the root bus's batches).

        Each message gets the envelope :func:`outgoing_envelope` makes (its tenant, this
        service's source, ``created``). On a :class:`BatchTransport`, outside a store
        transaction and with no tracker watching, transport-bound messages are handed over
        without one (:meth:`EnvelopeBatch.add_new`).
        """
        runtime = self.runtime
        transport = runtime.transport
        source = runtime.source
        handling = handling_tenant.get() if runtime.tenant_isolation else None
        if (
            runtime.tracker is not None
            or runtime.telemetry is not None
            or not isinstance(transport, BatchTransport)
            or active_session() is not None
        ):
            await self.publish_many(
                outgoing_envelope(message, self._new_tenant(message, handling), source, created)
                for message in messages
            )
            return
        batch = transport.publish_batch(source, created)
        routes = self._routes
        add = batch.add_new
        try:
            for message in messages:
                cls = type(message)
                route = routes[cls] if cls in routes else self._batch_route(cls)
                # per message: a generator may yield each inside a tenant_scope of its own
                tenant = tenant_of(message)
                if handling is not None and tenant is not None and tenant != handling:
                    check_isolation(message, handling, tenant, None)
                if route is None:
                    await runtime.publish(outgoing_envelope(message, tenant, source, created))
                    continue
                key = route[1](message)
                while not add(message, route[0], key, tenant):
                    await batch.wait()
        except BaseException:
            batch.close()  # what was produced is still delivered
            raise
        await batch.settle()

    @staticmethod
    def _new_tenant(message: Any, handling: str | None) -> str | None:
        """The tenant of a new message of the root bus; checked against ``handling``."""
        tenant = tenant_of(message)
        if handling is not None and tenant is not None and tenant != handling:
            check_isolation(message, handling, tenant, None)
        return tenant

    async def _publish_batch(self, batch: EnvelopeBatch, envelopes: Iterable[Envelope]) -> None:
        """Add each transport-bound envelope to ``batch`` (others are published), settle it."""
        runtime = self.runtime
        routes = self._routes
        add = batch.add
        try:
            for envelope in envelopes:
                message = envelope.message
                cls = type(message)
                route = routes[cls] if cls in routes else self._batch_route(cls)
                if route is None:
                    await runtime.publish(envelope)
                    continue
                if runtime.tracker is not None:
                    runtime.record("published", envelope)
                key = route[1](message)
                telemetry = runtime.telemetry
                if telemetry is None:
                    while not add(envelope, route[0], key):
                        await batch.wait()
                    continue
                # the producer span covers the hand-over; the batch's acknowledgements are
                # awaited together below (a failure raises from publish_many)
                with telemetry.producing(envelope, "publish", route[0], key):
                    while not add(envelope, route[0], key):
                        await batch.wait()
        except BaseException:
            batch.close()  # what was produced is still delivered (and tracked)
            raise
        await batch.settle()

    def _batch_route(self, cls: type) -> BatchRoute | None:
        """The topic and partition-key function of ``cls``, ``None`` when it has no topic."""
        runtime = self.runtime
        topic = runtime.topic_of(cls)
        route = self._routes[cls] = None if topic is None else (topic, partition_key_function(cls))
        return route
