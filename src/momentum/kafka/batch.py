"""``PublishBatch``: what ``bus.publish_many`` runs on Kafka (one delivery for a batch)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaException

from momentum.contracts.cloudevents import (
    Headers,
    NewMessageWriter,
    Writer,
    new_message_writer,
    record_writer,
)
from momentum.contracts.envelope import Envelope, new_message_id_text
from momentum.contracts.errors import TransportError
from momentum.kafka.producer import STOPPED, AsyncProducer, produce_error

if TYPE_CHECKING:
    from momentum.kafka.transport import KafkaTransport


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
        "_sign",
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
        self._sign = transport._sign
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
        if self._sign is not None:
            self._sign(value, headers)
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
        if self._sign is not None:
            self._sign(value, headers)
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
