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

from momentum.contracts.cloudevents import encode_with_id
from momentum.contracts.envelope import Envelope
from momentum.contracts.errors import TransportError
from momentum.contracts.signing import CloudEventSigner
from momentum.kafka.authentication import AuthenticationWatch
from momentum.kafka.batch import PublishBatch
from momentum.kafka.catch_up import caught_up
from momentum.kafka.codec import TRANSPORT_NAME, RecordDecoder
from momentum.kafka.config import KafkaConfig
from momentum.kafka.consumer import ConsumerThread
from momentum.kafka.dead_letters import DeadLetterCopies, dead_letter_copy, too_large
from momentum.kafka.deliveries import KafkaDeliveries
from momentum.kafka.dispatcher import Dispatcher
from momentum.kafka.producer import STOPPED, AsyncProducer, delivery_error
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
        signer = config.signer
        self._sign = signer.sign if signer is not None and signer.signs else None
        self.authentication = AuthenticationWatch(config.client_config())
        """Whether the brokers refuse the client's credentials (see ``kafka.authentication``)."""
        self._producer: AsyncProducer | None = None
        self._consumer: ConsumerThread | None = None
        self._decoder: RecordDecoder | None = None
        self._keeper: PoisonKeeper | None = None
        self._rejected_sink: RejectedSink | None = None
        self._dispatcher: Dispatcher | None = None
        self._provisioned: dict[str, asyncio.Task[Any]] = {}
        self._paused = False
        self._tenants: frozenset[str] | None = None
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
        producer = AsyncProducer(self.config, self.authentication)
        producer.start()
        self._producer = producer
        if topics:
            types = [t for s in subscriptions for t in s.message_types]
            owned = [s.topic for s in subscriptions if s.owned]
            signer = self.config.signer
            self._decoder = RecordDecoder(
                types,
                owned_topics=owned,
                group=group,
                tenants=self._tenants,
                verify=signer.verify if signer is not None and signer.verifies else None,
            )
            keeper = PoisonKeeper(
                DeadLetterCopies(self.config.producer_config()), lambda: self._rejected_sink
            )
            consumer = ConsumerThread(
                self.config, group, topics, self._decoder, receiver, keeper, self.authentication
            )
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

    @property
    def signer(self) -> CloudEventSigner | None:
        """What signs the records written and verifies those read (``config.signer``)."""
        return self.config.signer

    def only_tenants(self, tenants: frozenset[str]) -> None:
        """From the next start, skip records of every tenant but ``tenants`` (and untenanted).

        They are recognised on the consumer thread by their ``ce_tenantid`` header before
        being verified or decoded, and committed without reaching the receiver.
        """
        self._tenants = frozenset(tenants)

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
        if self._sign is not None:
            self._sign(value, headers)
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

        CloudEvents binary mode: the JSON payload and the ``ce_*`` headers (signed when the
        transport signs: an outbox row, a scheduled row or a dead letter holds the record as
        it will be published); keyed by the destination's key, else the message id.
        """
        message_id = envelope.message_id_text
        value, headers = encode_with_id(envelope, message_id, casing=self.config.casing)
        if self._sign is not None:
            self._sign(value, headers)
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
        copy = dead_letter_copy(record, self.config.casing, self._sign)
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
    def tenant_skipped(self) -> int:
        """Records of other tenants (or without one) skipped since start (:meth:`only_tenants`)."""
        return self._decoder.tenant_skipped if self._decoder is not None else 0

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
