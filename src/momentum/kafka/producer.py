"""``AsyncProducer``: ``confluent_kafka.Producer`` with awaitable deliveries.

``produce`` is non-blocking and thread-safe in librdkafka, so it is called on the event loop.
Delivery reports are served by a dedicated poll thread blocking in ``poll(0.1)``: it wakes as
soon as a report arrives, queues the reports one ``poll`` served and wakes the loop once for
all of them (``loop.call_soon_threadsafe``), which settles their futures; the event loop never
runs librdkafka code that may block. (A wake-up per record, plus ``asyncio.shield`` and two
closures per record, held 10 000 gathered publishes to ~10k records/s; settling in batches
reached ~25k records/s on the same 2-core machine.)

The alternative, ``poll(0)`` from a loop task every few milliseconds, was measured against a
local broker (linger.ms=0, acks=all): one awaited publish took 0.27 ms with the poll thread
and 5.2 ms with a 5 ms poll period (the period is added to every publish); with 5000 publishes
in flight both reached 15-20k records/s, bounded by per-record Python work.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from momentum.contracts.errors import TransportError
from momentum.kafka.config import KafkaConfig

logger = logging.getLogger("momentum.kafka.producer")
librdkafka_logger = logging.getLogger("momentum.kafka.librdkafka")
"""Where librdkafka's own log lines go (instead of stderr)."""

Headers = list[tuple[str, bytes]]


def delivery_error(topic: str, error: Any) -> TransportError:
    """A :class:`TransportError` naming ``topic`` and the librdkafka reason."""
    if isinstance(error, KafkaError):
        reason = f"{error.name()}: {error.str()}"
        if error.fatal():
            reason += " (fatal: the producer must be recreated)"
    else:
        reason = str(error)
    return TransportError(f"Kafka delivery to topic {topic!r} failed: {reason}")


def _on_error(error: Any) -> None:
    if error.fatal():
        logger.error("fatal Kafka producer error: %s", error)
    else:  # transient (broker down, reconnecting): librdkafka retries by itself
        logger.info("Kafka producer: %s", error)


class AsyncProducer:
    """An idempotent producer whose ``send`` returns once the broker acknowledged the record."""

    def __init__(self, config: KafkaConfig) -> None:
        self._config = config
        self._producer: Any = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._in_flight: set[asyncio.Future[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reports: deque[tuple[asyncio.Future[None], str, Any]] = deque()
        self._wake_pending = False

    def start(self) -> None:
        """Create the producer and its poll thread."""
        if self._producer is not None:
            return
        self._loop = asyncio.get_running_loop()
        try:
            self._producer = Producer(
                {
                    **self._config.producer_config(),
                    "error_cb": _on_error,
                    "logger": librdkafka_logger,
                }
            )
        except KafkaException as exc:
            raise TransportError(f"cannot create the Kafka producer: {exc}") from None
        self._running.set()
        self._thread = threading.Thread(
            target=self._serve, name=f"momentum-kafka-producer-{self._config.client_id}"
        )
        self._thread.daemon = True
        self._thread.start()

    def _serve(self) -> None:
        producer = self._producer
        while self._running.is_set():
            producer.poll(0.1)
            if self._reports and not self._wake_pending:
                self._wake()

    def _on_delivery(
        self, future: asyncio.Future[None], topic: str, error: Any, _message: Any
    ) -> None:
        """A delivery report from librdkafka (on the poll thread, or the flushing one)."""
        self._reports.append((future, topic, error))

    def _wake(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            self._wake_pending = True
            try:
                loop.call_soon_threadsafe(self._settle_reports)
            except RuntimeError:  # the loop closed meanwhile
                self._wake_pending = False

    def _settle_reports(self) -> None:
        """On the loop: settle every queued delivery report."""
        self._wake_pending = False  # before draining: a report queued from now wakes again
        reports = self._reports
        while reports:
            future, topic, error = reports.popleft()
            self._settle(future, topic, error)

    def _settle(self, future: asyncio.Future[None], topic: str, error: Any) -> None:
        self._in_flight.discard(future)
        if not self._in_flight:
            self._idle.set()
        if future.done():  # the publisher was cancelled: the record was still tracked
            return
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(delivery_error(topic, error))

    @property
    def in_flight(self) -> int:
        """Records handed to librdkafka whose delivery is not yet reported."""
        return len(self._in_flight)

    async def send(self, topic: str, key: bytes, value: bytes, headers: Headers) -> None:
        """Produce one record and wait for its delivery report.

        Raises :class:`TransportError` (with the topic and reason) when the record cannot be
        queued or the broker does not acknowledge it.
        """
        producer = self._producer
        if producer is None:
            raise TransportError("the Kafka producer is not started")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Tracked until its delivery report is settled, even when the publisher is cancelled
        # meanwhile (wait_idle and stop count on it), so no shield is needed.
        self._in_flight.add(future)
        self._idle.clear()
        on_delivery = partial(self._on_delivery, future, topic)
        while True:
            try:
                producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                break
            except BufferError:
                await asyncio.sleep(0.005)  # local queue full: the poll thread drains it
            except (KafkaException, ValueError, TypeError) as exc:
                error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else exc
                self._settle(future, topic, error)
                break
        await future

    async def wait_idle(self) -> None:
        """Return once every record sent so far has a delivery report."""
        while self._in_flight:
            await self._idle.wait()

    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Flush outstanding records (at most ``timeout`` seconds), then stop the poll thread."""
        producer = self._producer
        if producer is None:
            return
        remaining = await asyncio.to_thread(producer.flush, timeout)
        if remaining:
            logger.warning("Kafka producer stopped with %d record(s) undelivered", remaining)
        self._settle_reports()  # reports served by flush on its thread
        for future in list(self._in_flight):
            if not future.done():
                future.set_exception(
                    TransportError("the Kafka producer stopped before the record was delivered")
                )
        self._in_flight.clear()
        self._idle.set()
        self._running.clear()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        self._producer = self._thread = None
