"""An in-process transport: topics shared by the services of one process.

It has Kafka's delivery shape without a broker: every consumer group subscribed to a topic
receives each message once, messages with one key are handled in order, different keys
concurrently. Nothing is persisted and messages published to a topic before any group
subscribes are dropped: use it for tests and the embedded demo, Kafka in production.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from momentum.contracts.envelope import Envelope, Origin
from momentum.contracts.errors import SerializationError, TransportError
from momentum.runtime.local_queues import LocalQueue, PendingWork, QueuedWork
from momentum.runtime.ports import (
    Destination,
    DurableReceiver,
    Receiver,
    SettledDeliveries,
    Subscription,
)
from momentum.runtime.records import RecordReader, encode_outgoing
from momentum.runtime.store import OutgoingRecord

TRANSPORT_NAME = "in-memory"


class InMemoryBroker:
    """The shared topics; create one per process (or per test) and a transport per service."""

    def __init__(self, concurrency: int = 4) -> None:
        self.concurrency = concurrency
        self.pending = PendingWork()
        self._groups: dict[str, dict[str, tuple[LocalQueue, Receiver]]] = {}
        self._readers: dict[str, RecordReader] = {}
        self.published: list[tuple[str, Envelope]] = []
        self.records: list[OutgoingRecord] = []

    def transport(self) -> InMemoryTransport:
        """A transport for one service, connected to this broker."""
        return InMemoryTransport(self)

    def subscribe(
        self,
        group: str,
        topics: Sequence[str],
        receiver: Receiver,
        queue: LocalQueue,
        message_types: Sequence[type] = (),
    ) -> None:
        """Deliver messages of ``topics`` to ``receiver`` through ``queue`` as ``group``.

        ``message_types`` decode the wire records published with :meth:`publish_record`.
        """
        self._readers[group] = RecordReader(message_types)
        for topic in topics:
            groups = self._groups.setdefault(topic, {})
            if group in groups:
                raise TransportError(
                    f"consumer group {group!r} already consumes {topic!r} on this in-memory "
                    "broker (one service instance per group in-process)"
                )
            groups[group] = (queue, receiver)

    def unsubscribe(self, group: str) -> None:
        """Stop delivering to ``group``."""
        for groups in self._groups.values():
            groups.pop(group, None)
        self._readers.pop(group, None)

    def publish(self, envelope: Envelope, destination: Destination) -> None:
        """Queue ``envelope`` for every group subscribed to the destination topic."""
        self.published.append((destination.topic, envelope))
        for group, (queue, receiver) in list(self._groups.get(destination.topic, {}).items()):
            description = f"{group} <- {destination.topic} {envelope.message_type}"
            _enqueue(queue, receiver, envelope, description, destination.key)

    def publish_record(self, record: OutgoingRecord) -> None:
        """Decode ``record`` for every group subscribed to its topic and queue it there.

        A group that cannot decode it (a type it does not handle) skips it, as on Kafka.
        """
        self.records.append(record)
        topic = record.destination
        offset = len(self.records) - 1
        for group, (queue, receiver) in list(self._groups.get(topic, {}).items()):
            try:
                envelope = self._readers[group].read(
                    record, Origin(TRANSPORT_NAME, topic, 0, offset)
                )
            except SerializationError:
                continue
            self.published.append((topic, envelope))
            description = f"{group} <- {topic} {envelope.message_type}"
            _enqueue(queue, receiver, envelope, description, record.key)


def _enqueue(
    queue: LocalQueue, receiver: Receiver, envelope: Envelope, description: str, key: str | None
) -> None:
    """Queue ``envelope`` for ``receiver``; a durable receiver checks its inbox ahead."""
    if isinstance(receiver, DurableReceiver):
        receiver.expect([envelope])
    queue.enqueue(QueuedWork(partial(receiver, envelope), description, key))


class InMemoryTransport:
    """One service's connection to an :class:`InMemoryBroker`."""

    name = TRANSPORT_NAME

    def __init__(self, broker: InMemoryBroker) -> None:
        self.broker = broker
        self._group: str | None = None
        self._queue: LocalQueue | None = None

    async def start(
        self, group: str, subscriptions: Sequence[Subscription], receiver: Receiver
    ) -> None:
        """Subscribe ``group`` to the subscription topics."""
        queue = LocalQueue(f"in-memory:{group}", self.broker.concurrency, self.broker.pending)
        queue.start()
        types = [t for s in subscriptions for t in s.message_types]
        self.broker.subscribe(group, [s.topic for s in subscriptions], receiver, queue, types)
        self._group, self._queue = group, queue

    async def publish(self, envelope: Envelope, destination: Destination) -> None:
        """Hand the message to the broker (accepted immediately)."""
        if self._group is None:
            raise TransportError("in-memory transport is not started")
        self.broker.publish(envelope, destination)

    def encode(self, envelope: Envelope, destination: Destination) -> OutgoingRecord:
        """The CloudEvents record of ``envelope`` (what the Kafka transport would write)."""
        return encode_outgoing(envelope, destination.topic, destination.key)

    async def publish_records(
        self, records: Sequence[OutgoingRecord]
    ) -> list[BaseException | None]:
        """Hand wire records to the broker (each accepted immediately)."""
        if self._group is None:
            raise TransportError("in-memory transport is not started")
        for record in records:
            self.broker.publish_record(record)
        return [None] * len(records)

    async def start_records(self, records: Sequence[OutgoingRecord]) -> SettledDeliveries:
        """:meth:`publish_records`, settled at once."""
        return SettledDeliveries(await self.publish_records(records))

    def pause(self) -> None:
        """Stop delivering to this service (messages keep queueing)."""
        if self._queue is not None:
            self._queue.pause()

    @property
    def paused(self) -> bool:
        """Whether deliveries to this service are paused."""
        return self._queue is not None and not self._queue.flowing.is_set()

    def resume(self) -> None:
        """Deliver again after :meth:`pause`."""
        if self._queue is not None:
            self._queue.resume()

    async def wait_idle(self) -> None:
        """Return once every queued delivery on the broker is handled."""
        await self.broker.pending.wait_idle()

    async def stop(self) -> None:
        """Unsubscribe and drain this service's deliveries."""
        if self._group is not None:
            self.broker.unsubscribe(self._group)
        if self._queue is not None:
            self._queue.resume()  # a paused listener still finishes what it was given
            await self._queue.drain()
            await self._queue.stop()
        self._group = self._queue = None
