"""``KafkaTransport``: the runtime's :class:`~momentum.runtime.ports.Transport` over Kafka.

```python
transport = KafkaTransport(KafkaConfig(bootstrap_servers="127.0.0.1:9092"))
service = Service("tracking", "Logistics", transport=transport)
```

Records are CloudEvents in binary mode, keyed by the partition key (the message id when the
event has none). Publishing waits for the broker's acknowledgement. Consuming hands records
to the runtime ordered per partition (per key with ``key_concurrency`` > 1) and commits an
offset only once every record below it is handled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, cast

from confluent_kafka import KafkaException, TopicPartition

from momentum.contracts.cloudevents import (
    Headers,
    NewMessageWriter,
    Writer,
    encode_with_id,
    new_message_writer,
    record_writer,
)
from momentum.contracts.envelope import Envelope, new_message_id_text
from momentum.contracts.errors import TransportError
from momentum.kafka.catch_up import caught_up
from momentum.kafka.codec import TRANSPORT_NAME, RecordDecoder
from momentum.kafka.config import KafkaConfig
from momentum.kafka.consumer import ConsumerThread
from momentum.kafka.dead_letters import DeadLetterCopies, dead_letter_copy, too_large
from momentum.kafka.deliveries import KafkaDeliveries
from momentum.kafka.dispatcher import Dispatcher
from momentum.kafka.producer import STOPPED, AsyncProducer, delivery_error, produce_error
from momentum.kafka.provisioning import dead_letter_topic, provision_topics
from momentum.kafka.rejected import PoisonKeeper
from momentum.runtime.dead_letters import DeadLetterRecord
from momentum.runtime.ports import (
    PENDING,
    Destination,
    Receiver,
    RejectedSink,
    RevokeListener,
    Subscription,
)
from momentum.runtime.store import OutgoingRecord

logger = logging.getLogger("momentum.kafka")


class KafkaTransport:
    """Publishes and consumes integration events through Kafka.

    Args:
        config: Connection, producer, consumer and provisioning settings.
    """

    name = TRANSPORT_NAME

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self._producer: AsyncProducer | None = None
        self._consumer: ConsumerThread | None = None
        self._decoder: RecordDecoder | None = None
        self._keeper: PoisonKeeper | None = None
        self._rejected_sink: RejectedSink | None = None
        self._dispatcher: Dispatcher | None = None
        self._provisioned: dict[str, asyncio.Task[Any]] = {}
        self._paused = False
        self._revoke_listener: RevokeListener | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(
        self, group: str, subscriptions: Sequence[Subscription], receiver: Receiver
    ) -> None:
        """Provision topics (when enabled), start the producer and consume as ``group``."""
        if self._producer is not None:
            raise TransportError("the Kafka transport is already started")
        topics = sorted({s.topic for s in subscriptions})
        if self.config.provisioning.enabled:
            wanted = [*topics, *self.config.topics_to_provision]
            await self._provision(wanted)
        producer = AsyncProducer(self.config)
        producer.start()
        self._producer = producer
        if topics:
            types = [t for s in subscriptions for t in s.message_types]
            owned = [s.topic for s in subscriptions if s.owned]
            self._decoder = RecordDecoder(types, owned_topics=owned, group=group)
            keeper = PoisonKeeper(
                DeadLetterCopies(self.config.producer_config()), lambda: self._rejected_sink
            )
            consumer = ConsumerThread(self.config, group, topics, self._decoder, receiver, keeper)
            consumer.dispatcher.revoke_listener = self._revoke_listener
            try:
                consumer.start()
            except BaseException:
                await producer.stop()
                self._producer = None
                await keeper.close()
                raise
            keeper.start()
            self._keeper = keeper
            self._consumer = consumer
            self._dispatcher = consumer.dispatcher
            if self._paused:
                consumer.dispatcher.gate.clear()
        self.config.gc.apply()  # the startup heap is complete: frozen before records flow
        logger.info("Kafka transport started: group %r, %d subscribed topic(s)", group, len(topics))

    async def stop(self) -> None:
        """Finish running handlers, commit offsets, leave the group, flush the producer."""
        consumer, producer = self._consumer, self._producer
        self._consumer = None
        try:
            if consumer is not None:
                await consumer.stop()  # handlers finishing may still publish
        finally:
            self._producer = None
            if producer is not None:
                await producer.stop()
            keeper, self._keeper = self._keeper, None
            if keeper is not None:
                await keeper.close()

    def on_revoked(self, listener: RevokeListener) -> None:
        """Await ``listener`` with lost partitions, and revoked ones before their commit."""
        self._revoke_listener = listener
        if self._dispatcher is not None:
            self._dispatcher.revoke_listener = listener

    def on_rejected(self, sink: RejectedSink) -> None:
        """Also hand poison records to ``sink`` (the store's dead letters) before commit.

        Poison records are kept in batches (:class:`~momentum.kafka.rejected.PoisonKeeper`):
        their ``<topic>.dlq`` copies produced and flushed together, then the batch handed
        to ``sink``; a record's offset counts as done once ``sink`` returned for it.
        """
        self._rejected_sink = sink

    def pause(self) -> None:
        """Stop handing records to the receiver; running handlers finish, the group is kept.

        Received records wait (uncommitted); once ``max_buffered_per_partition`` of a
        partition wait, its fetching is paused too. The consumer keeps polling throughout.
        """
        self._paused = True
        if self._dispatcher is not None:
            self._dispatcher.gate.clear()

    def resume(self) -> None:
        """Hand records to the receiver again, in order, from the first one held back."""
        self._paused = False
        if self._dispatcher is not None:
            self._dispatcher.gate.set()

    # -- publishing --------------------------------------------------------------------------

    async def publish(self, envelope: Envelope, destination: Destination) -> None:
        """Send ``envelope`` and wait until the broker acknowledged it.

        Raises :class:`TransportError` with the topic and reason when it is not delivered.
        """
        producer = self._producer
        if producer is None:
            raise TransportError("the Kafka transport is not started")
        topic = destination.topic
        config = self.config
        if config.provisioning.enabled:
            task = self._provisioned.get(topic)
            if task is None or not task.done():
                await self._provision([topic])
        message_id = envelope.message_id_text
        value, headers = encode_with_id(envelope, message_id, casing=config.casing)
        key = destination.key if destination.key is not None else message_id
        # producer.send inlined: one coroutine less per publish in flight
        delivery = producer.submit(topic, key, value, headers)
        while delivery is None:  # librdkafka's local queue is full
            await producer.wait_for_space()
            delivery = producer.submit(topic, key, value, headers)
        del value, headers  # copied by librdkafka: not kept alive while awaiting
        if not delivery.finished:
            await delivery.future
        if delivery.outcome is not None:
            raise delivery_error(topic, delivery.outcome)

    def publish_batch(self, source: str, created: float) -> PublishBatch:
        """A batch for ``bus.publish_many``: add envelopes one by one, then settle it.

        ``source`` and ``created`` are those of the new messages :meth:`PublishBatch.add_new`
        takes. Raises :class:`TransportError` when the transport is not started.
        """
        producer = self._producer
        if producer is None:
            raise TransportError("the Kafka transport is not started")
        return PublishBatch(self, producer, source, created)

    def encode(self, envelope: Envelope, destination: Destination) -> OutgoingRecord:
        """The record :meth:`publish` would write for ``envelope`` at ``destination``.

        CloudEvents binary mode: the JSON payload and the ``ce_*`` headers; keyed by the
        destination's key, else the message id.
        """
        message_id = envelope.message_id_text
        value, headers = encode_with_id(envelope, message_id, casing=self.config.casing)
        key = destination.key
        return OutgoingRecord(
            message_id, destination.topic, key if key is not None else message_id, headers, value
        )

    async def publish_records(
        self, records: Sequence[OutgoingRecord]
    ) -> list[BaseException | None]:
        """Send pre-encoded ``records`` and wait until each is acknowledged or failed.

        As :meth:`start_records`, then every delivery report is awaited.

        Returns:
            For each record, in order: ``None`` when delivered, else a
            :class:`TransportError` naming its topic and the reason.
        """
        deliveries = await self.start_records(records)
        await deliveries.wait()
        outcomes = deliveries.outcomes()
        if PENDING in outcomes:  # not after a full wait; kept for the type
            outcomes = [TransportError(STOPPED) if o is PENDING else o for o in outcomes]
        return cast(list[BaseException | None], outcomes)

    async def start_records(self, records: Sequence[OutgoingRecord]) -> KafkaDeliveries:
        """Produce pre-encoded ``records``; their acknowledgements arrive on the result.

        All records are produced in order (librdkafka keeps the order of a partition, so of
        a key, with idempotence on). A record without a key is keyed by its message id.
        Topics are provisioned first when provisioning is enabled; a topic that cannot be
        provisioned fails its records.
        """
        producer = self._producer
        if producer is None:
            raise TransportError("the Kafka transport is not started")
        if not records:
            return KafkaDeliveries(records, None, {})
        unavailable: dict[str, BaseException] = {}
        if self.config.provisioning.enabled:
            unavailable = await self._provision_each({r.destination for r in records})
        sendable = records
        if unavailable:
            sendable = [r for r in records if r.destination not in unavailable]
        delivery = await producer.produce_records(sendable) if sendable else None
        return KafkaDeliveries(records, delivery, unavailable)

    async def publish_dead_letter(self, record: DeadLetterRecord, topic: str) -> None:
        """Write ``record`` to ``<topic>.dlq``: the original record plus failure headers.

        A message read from Kafka is written as it was read (key, value and headers byte
        for byte); any other as its CloudEvents record. A copy too large for the message
        size limit is written without its value (``momentum-dlq-value-omitted``: its size).
        Raises :class:`TransportError` when no copy could be written.
        """
        producer = self._producer
        if producer is None:
            raise TransportError("the Kafka transport is not started")
        target = dead_letter_topic(topic)
        if self.config.provisioning.enabled:
            await self._provision([target])
        copy = dead_letter_copy(record, self.config.casing)
        try:
            await producer.send(target, copy.key, copy.value, copy.headers)
        except TransportError as exc:
            if not too_large(exc):
                raise
            stripped = copy.without_value()
            await producer.send(target, stripped.key, stripped.value, stripped.headers)
            logger.warning(
                "dead letter of %s %s written to %s without its value (%d bytes: %s); the "
                "service's dead letters keep it whole",
                record.envelope.message_type,
                record.envelope.message_id,
                target,
                len(copy.value),
                exc,
            )

    async def publish_raw(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        """Send one record exactly as given (the key as bytes) and wait for its acknowledgement.

        Replays use it for records whose key is no text (a poison record's binary key).
        Raises :class:`TransportError` with the topic and reason when it is not delivered.
        """
        producer = self._producer
        if producer is None:
            raise TransportError("the Kafka transport is not started")
        if self.config.provisioning.enabled:
            await self._provision([topic])
        await producer.send(topic, key, value, list(headers))

    async def _provision_each(self, topics: set[str]) -> dict[str, BaseException]:
        """Provision ``topics`` not provisioned yet; the failure of each that failed."""
        missing = []
        for topic in topics:
            task = self._provisioned.get(topic)
            if task is None or not task.done():
                missing.append(topic)
        if not missing:
            return {}
        results = await asyncio.gather(
            *(self._provision([topic]) for topic in missing), return_exceptions=True
        )
        failed: dict[str, BaseException] = {}
        for topic, result in zip(missing, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                failed[topic] = result
        return failed

    def provisioned(self, topic: str) -> bool:
        """Whether ``topic`` needs no (more) provisioning before records are produced to it."""
        if not self.config.provisioning.enabled:
            return True
        task = self._provisioned.get(topic)
        return task is not None and task.done() and task.exception() is None

    async def _provision(self, topics: list[str]) -> None:
        tasks = []
        for topic in topics:
            task = self._provisioned.get(topic)
            if task is None:
                task = asyncio.ensure_future(provision_topics(self.config, [topic]))
                self._provisioned[topic] = task
            tasks.append(task)
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for topic in topics:
                task = self._provisioned.get(topic)
                if task is not None and task.done() and task.exception() is not None:
                    del self._provisioned[topic]
            raise

    # -- observation ---------------------------------------------------------------------------

    @property
    def poison_records(self) -> int:
        """Undecodable records rejected since start (kept as dead letters, never handled)."""
        return self._decoder.poison if self._decoder is not None else 0

    @property
    def poison_kept(self) -> int:
        """Poison records kept since start: in the store's dead letters, else on ``.dlq``.

        Their offsets count as done from then on (see :meth:`on_rejected`).
        """
        keeper = self._keeper
        return keeper.kept if keeper is not None else 0

    @property
    def skipped_records(self) -> int:
        """Records of types this service does not handle, committed without handling."""
        return self._decoder.skipped if self._decoder is not None else 0

    async def check_connection(self, timeout: float) -> None:  # noqa: ASYNC109
        """Ask the brokers for metadata; :class:`TransportError` when none answers in time."""
        producer = self._producer
        if producer is None:
            raise TransportError("the Kafka transport is not started")
        await producer.check_connection(timeout)

    async def consumer_lag(self) -> dict[tuple[str, int], int]:
        """Per assigned partition: records on the broker past the group's committed offset.

        The high watermark is the one the consumer last fetched (no broker request); the
        committed offsets are asked of the group coordinator (one request). A partition
        without a committed offset counts from its low watermark.
        """
        consumer = self._consumer
        if consumer is None:
            return {}
        assigned = [TopicPartition(t, p) for t, p in self.assignment]
        if not assigned:
            return {}

        def measure(client: Any) -> dict[tuple[str, int], int]:
            lag: dict[tuple[str, int], int] = {}
            committed = {
                (tp.topic, tp.partition): tp.offset for tp in client.committed(assigned, timeout=5)
            }
            for tp in assigned:
                low, high = client.get_watermark_offsets(tp, cached=True)
                if high < 0:
                    continue  # nothing fetched yet: unknown
                done = committed.get((tp.topic, tp.partition), -1)
                lag[(tp.topic, tp.partition)] = max(high - (done if done >= 0 else low), 0)
            return lag

        try:
            return await consumer.query(measure)
        except KafkaException as exc:
            raise TransportError(f"cannot measure the consumer lag: {exc}") from None

    @property
    def assignment(self) -> list[tuple[str, int]]:
        """The ``(topic, partition)`` pairs this consumer currently handles, sorted."""
        consumer = self._consumer
        return sorted(consumer.dispatcher.workers) if consumer is not None else []

    @property
    def buffered(self) -> int:
        """Records received by this consumer and not yet handled (queued or running)."""
        consumer = self._consumer
        return consumer.dispatcher.in_flight if consumer is not None else 0

    @property
    def paused_partitions(self) -> list[tuple[str, int]]:
        """The ``(topic, partition)`` pairs paused for back pressure now, sorted.

        A partition is paused once ``max_buffered_per_partition`` of its records are
        unfinished, and resumed at half that (each transition is logged once).
        """
        dispatcher = self._dispatcher
        return dispatcher.paused_partitions if dispatcher is not None else []

    @property
    def pauses(self) -> int:
        """How often a partition was paused because its handlers fell behind (back pressure)."""
        return self._dispatcher.pauses if self._dispatcher is not None else 0

    async def wait_idle(self) -> None:
        """Return once publishes are acknowledged and the consumer has caught up.

        What it knows: every record this transport published has a delivery report, and every
        partition currently assigned to this consumer has been handled up to the high
        watermark read at the time of the call (records published anywhere before then).
        What it cannot know: partitions assigned to other members of the group (other
        processes), records published after the watermarks were read, and other groups.
        Before the first assignment it waits for one (bounded only by the caller).
        """
        while True:
            if self._producer is not None:
                await self._producer.wait_idle()
            consumer = self._consumer
            if consumer is not None:
                await caught_up(consumer)
            if self._producer is None or self._producer.in_flight == 0:
                return


class PublishBatch:
    """Envelopes encoded and produced one at a time, their acknowledgements awaited together.

    What ``bus.publish_many`` runs on Kafka: :meth:`add` encodes an envelope (CloudEvents
    binary, as :meth:`KafkaTransport.encode`) and produces it at once, so nothing of a record
    outlives its ``produce`` call; :meth:`add_new` does the same for a new message of the
    root bus without an envelope. One :class:`~momentum.kafka.producer.StreamDelivery`
    counts the reports of the whole batch. Records keep their order per partition (so per
    key), as librdkafka keeps it with idempotence on.

    ```python
    batch = transport.publish_batch(source, time.time())
    try:
        for envelope, topic, key in items:
            while not batch.add(envelope, topic, key):
                await batch.wait()
    except BaseException:
        batch.close()
        raise
    await batch.settle()  # raises the first failure
    ```
    """

    __slots__ = (
        "_blocked",
        "_casing",
        "_closed",
        "_created",
        "_delivery",
        "_new_writers",
        "_produce",
        "_produced",
        "_producer",
        "_provisioning",
        "_report",
        "_source",
        "_transport",
        "_unavailable",
        "_writers",
    )

    def __init__(
        self, transport: KafkaTransport, producer: AsyncProducer, source: str, created: float
    ) -> None:
        self._transport = transport
        self._producer = producer
        self._casing = transport.config.casing
        self._provisioning = transport.config.provisioning.enabled
        self._source = source
        self._created = created
        client, self._delivery = producer.open()
        self._report = self._delivery.report
        self._produce = client.produce
        self._produced = 0
        self._closed = False
        self._blocked: str | None = None
        self._unavailable: dict[str, BaseException] = {}
        self._writers: dict[type, Writer] = {}
        self._new_writers: dict[type, NewMessageWriter] = {}

    def add(self, envelope: Envelope, topic: str, key: str | None) -> bool:
        """Encode ``envelope`` and produce it to ``topic`` keyed by ``key`` (else its id).

        Returns ``False`` when nothing was produced yet: await :meth:`wait`, then add the
        same envelope again. A record that cannot be encoded raises (the batch stays open:
        :meth:`close` it); one ``produce`` refuses fails the batch, which goes on.
        """
        if self._provisioning and not self._transport.provisioned(topic):
            return self._unprovisioned(topic)
        message_id = envelope.message_id_text
        cls = type(envelope.message)
        write = self._writers.get(cls)
        if write is None:
            write = self._writers[cls] = record_writer(cls, self._casing)
        value, headers = write(envelope, message_id, None)
        return self._send(topic, value, message_id if key is None else key, headers)

    def add_new(self, message: Any, topic: str, key: str | None, tenant_id: str | None) -> bool:
        """:meth:`add` of a new message of the batch's source and time, with a fresh id.

        The record is that of ``Envelope(message, tenant_id=tenant_id, source=source,
        created=created)`` (:func:`~momentum.contracts.cloudevents.new_message_writer`); no
        envelope is made. Returns and raises as :meth:`add`.
        """
        if self._provisioning and not self._transport.provisioned(topic):
            return self._unprovisioned(topic)
        cls = type(message)
        write = self._new_writers.get(cls)
        if write is None:
            write = self._new_writers[cls] = new_message_writer(
                cls, self._source, self._created, self._casing
            )
        message_id = new_message_id_text()
        value, headers = write(message, message_id, tenant_id)
        return self._send(topic, value, message_id if key is None else key, headers)

    def _send(self, topic: str, value: bytes, key: str, headers: Headers) -> bool:
        try:
            self._produce(topic, value, key, headers=headers, on_delivery=self._report)
        except BufferError:
            return False
        except (KafkaException, ValueError, TypeError) as exc:
            self._delivery.fail(topic, produce_error(exc))
            return True
        self._produced += 1
        return True

    def _unprovisioned(self, topic: str) -> bool:
        """``False`` (:meth:`wait` provisions ``topic``) or, once that failed, the failure."""
        failure = self._unavailable.get(topic)
        if failure is None:
            self._blocked = topic
            return False
        self._delivery.fail(topic, f"not provisioned: {failure}")
        return True

    async def wait(self) -> None:
        """Wait until :meth:`add` can go on: the topic is provisioned, or the queue has room.

        Raises :class:`TransportError` when the producer stopped meanwhile.
        """
        topic, self._blocked = self._blocked, None
        if topic is not None:
            try:
                await self._transport._provision([topic])
            except Exception as exc:
                self._unavailable[topic] = exc
            return
        await self._producer.wait_for_space()
        if not self._producer.running:
            raise TransportError(STOPPED)

    def close(self) -> None:
        """No more records: the delivery waits for the reports of those produced."""
        if not self._closed:
            self._closed = True
            self._producer.close(self._delivery, self._produced)

    async def settle(self) -> None:
        """Close, wait for every report, raise the first failure (:class:`TransportError`)."""
        self.close()
        failure = await self._producer.settled(self._delivery)
        if failure is not None:
            raise failure
