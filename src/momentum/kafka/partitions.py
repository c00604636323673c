"""Event-loop side of the consumer: ordered handling per partition and offset tracking.

Each assigned partition gets a :class:`PartitionWorker` with ``key_concurrency`` lanes: a
record goes to the lane its key hashes to and each lane handles its records one at a time,
so records with one key are handled strictly in offset order (with one lane the whole
partition is). Partitions are handled in parallel. A record counts as done when the
receiver returns ``None``; when it returns a delay (a delayed retry) the record is delivered
again after it, holding its lane. Skipped and poison records are done on arrival. The worker's
:class:`OffsetTracker` turns that into the offset that is safe to commit.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from momentum.contracts.envelope import Envelope
from momentum.kafka.offsets import OffsetTracker
from momentum.runtime.ports import Receiver

logger = logging.getLogger("momentum.kafka.consumer")

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """A record read by the consumer thread, decoded.

    Attributes:
        topic: Topic it was read from.
        partition: Its partition.
        offset: Its offset.
        key: The Kafka key (orders records inside the partition).
        envelope: The decoded message; ``None`` for a skipped or poison record.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    envelope: Envelope | None


class PartitionWorker:
    """Handles the records of one assigned partition in order (per key with several lanes)."""

    def __init__(
        self,
        tp: TopicPartition,
        epoch: int,
        receiver: Receiver,
        lanes: int,
        on_progress: Callable[[], None],
        gate: asyncio.Event,
    ) -> None:
        self.tp = tp
        self.epoch = epoch
        self.tracker = OffsetTracker()
        self.paused = False
        self.progress = asyncio.Event()
        self.handled = 0
        self.failed = 0
        self._receiver = receiver
        self._gate = gate
        self._on_progress = on_progress
        self._queues: list[asyncio.Queue[InboundRecord]] = [asyncio.Queue() for _ in range(lanes)]
        self._busy = [False] * lanes
        self._closing = False
        self._tasks = [
            asyncio.create_task(self._run(i), name=f"momentum-kafka {tp[0]}[{tp[1]}] lane {i}")
            for i in range(lanes)
        ]

    def accept(self, record: InboundRecord) -> None:
        """Queue ``record`` on its lane (or complete it at once when it carries no message)."""
        self.tracker.add(record.offset)
        if record.envelope is None:
            self._complete(record.offset)
            return
        lanes = len(self._queues)
        lane = 0 if lanes == 1 else zlib.crc32(record.key or b"%d" % record.offset) % lanes
        self._queues[lane].put_nowait(record)

    def _complete(self, offset: int) -> None:
        self.tracker.complete(offset)
        self.progress.set()
        self._on_progress()

    async def _run(self, lane: int) -> None:
        queue = self._queues[lane]
        while not self._closing:
            record = await queue.get()
            assert record.envelope is not None
            await self._gate.wait()  # the listener is paused: hold the record (not yet begun)
            self._busy[lane] = True
            try:
                delay = await self._receiver(record.envelope)
                while delay is not None:
                    # A delayed retry: the record stays uncommitted and its lane waits (later
                    # records of its key stay behind it); a revoke cancels the wait and the
                    # next owner gets the record again.
                    await asyncio.sleep(delay)
                    await self._gate.wait()
                    delay = await self._receiver(record.envelope)
            except asyncio.CancelledError:
                raise  # revoked or stopped mid-handler: not completed, so never committed
            except Exception:
                # The runtime's receiver applies the error policies and does not raise; an
                # exception here is a defect. Completing keeps the partition moving.
                self.failed += 1
                logger.exception(
                    "receiver raised for %s[%d]@%d; record committed without handling",
                    record.topic,
                    record.partition,
                    record.offset,
                )
            else:
                self.handled += 1
            finally:
                self._busy[lane] = False
            self._complete(record.offset)

    @property
    def buffered(self) -> int:
        """Records received and not yet done (queued plus running)."""
        return self.tracker.in_flight

    async def close(self, timeout: float) -> int | None:  # noqa: ASYNC109
        """Drop queued records, let running handlers finish (cancel them after ``timeout``).

        Returns the offset to commit for this partition (``None`` if no record was seen).
        """
        self._closing = True
        for queue in self._queues:
            while not queue.empty():
                queue.get_nowait()
        # A lane waiting on its (now empty) queue has nothing running: cancel it at once. A
        # lane inside a handler finishes it, then sees ``_closing`` and returns.
        busy = [t for t, b in zip(self._tasks, self._busy, strict=True) if b]
        for task in self._tasks:
            if task not in busy:
                task.cancel()
        if busy:
            _, still = await asyncio.wait(busy, timeout=timeout)
            for task in still:
                logger.warning(
                    "handler on %s[%d] still running after %gs at revoke/stop; cancelled, "
                    "its record will be redelivered",
                    self.tp[0],
                    self.tp[1],
                    timeout,
                )
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.progress.set()  # wakes a back-pressure watcher: the partition is gone
        return self.tracker.position  # always: an earlier asynchronous commit may have failed
