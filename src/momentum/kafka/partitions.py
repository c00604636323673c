"""Event-loop side of the consumer: ordered handling per partition and offset tracking.

Each assigned partition gets a :class:`PartitionWorker` with ``key_concurrency`` lanes: a
record goes to the lane its key hashes to and each lane handles its records one at a time,
so records with one key are handled strictly in offset order (with one lane the whole
partition is). Partitions are handled in parallel. A record counts as done when the
receiver returns ``None``. Skipped and poison records are done on arrival.

When the receiver returns a delay (a handler asked for a delayed retry) the record's key is
*parked*: the record leaves its lane and comes back after the delay, ahead of the lane's
queue; records with the same key that arrive meanwhile wait behind it, in offset order, and
are handled once it finishes (until one of them parks the key again). Other keys of the lane
keep flowing. A record without a key (``None`` or empty: the producer spreads those over
partitions at random) is its own key. Parked and waiting records stay unfinished, so the
worker's :class:`OffsetTracker` never lets a commit pass them, and they count towards
``max_buffered_per_partition``. At revoke or stop they are abandoned uncommitted: the next
owner of the partition gets them again.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from momentum.contracts.envelope import Envelope
from momentum.kafka.offsets import OffsetTracker
from momentum.runtime.ports import Receiver

logger = logging.getLogger("momentum.kafka.consumer")

TopicPartition = tuple[str, int]

ParkKey = bytes | int
"""What orders a record inside its lane: its Kafka key, or its offset when it has none."""


class InboundRecord(NamedTuple):
    """A record read by the consumer thread, decoded (immutable; a tuple: cheap to make).

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

    @property
    def park_key(self) -> ParkKey:
        """The key this record is ordered by: its Kafka key, else its own offset."""
        return self.key or self.offset


@dataclass(slots=True, eq=False)
class _Lane:
    """Records of the keys hashed to one lane, and the lane's parked keys."""

    queue: deque[InboundRecord] = field(default_factory=deque)
    """Records received and not yet begun, in offset order."""
    due: deque[InboundRecord] = field(default_factory=deque)
    """Parked records whose delay is over: handled before ``queue``."""
    parked: dict[ParkKey, deque[InboundRecord]] = field(default_factory=dict)
    """Parked keys, each with the records that wait behind its delayed record."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    busy: bool = False


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
        self.retries = 0
        """Delayed retries so far (each parks its record's key until the retry finishes)."""
        self._receiver = receiver
        self._gate = gate
        self._on_progress = on_progress
        self._lanes = [_Lane() for _ in range(lanes)]
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._closing = False
        self._tasks = [
            asyncio.create_task(self._run(lane), name=f"momentum-kafka {tp[0]}[{tp[1]}] lane {i}")
            for i, lane in enumerate(self._lanes)
        ]

    def accept(self, record: InboundRecord) -> None:
        """Queue ``record`` on its lane (or complete it at once when it carries no message)."""
        self.tracker.add(record.offset)
        if record.envelope is None:
            self._complete(record.offset)
            return
        lanes = self._lanes
        lane = lanes[0] if len(lanes) == 1 else lanes[_lane_of(record, len(lanes))]
        lane.queue.append(record)
        lane.wake.set()

    def hold(self, offset: int) -> None:
        """Track a record that is not handled but must be kept first (poison)."""
        self.tracker.add(offset)

    def release(self, offset: int) -> None:
        """A held record is kept: it counts as done."""
        if not self._closing:
            self._complete(offset)

    def _complete(self, offset: int) -> None:
        self.tracker.complete(offset)
        self.progress.set()
        self._on_progress()

    async def _run(self, lane: _Lane) -> None:
        gate = self._gate
        queue, due, parked, wake = lane.queue, lane.due, lane.parked, lane.wake
        while not self._closing:
            if not due and not queue:
                wake.clear()
                await wake.wait()
                continue
            if not gate.is_set():  # the listener is paused: hold the record (not yet begun)
                await gate.wait()
                continue  # look again: closing, or a due retry, may have come meanwhile
            if due:  # a parked key's delayed retry: then what waited behind it
                record = due.popleft()
                if await self._attempt(lane, record):
                    await self._drain(lane, record.park_key)
                continue
            record = queue.popleft()
            if parked:
                waiting = parked.get(record.key or record.offset)  # its park_key
                if waiting is not None:
                    waiting.append(record)  # its key is parked: wait behind the retry, in order
                    continue
            await self._attempt(lane, record)

    async def _drain(self, lane: _Lane, key: ParkKey) -> None:
        """A parked key's retry finished: handle what waited behind it until one parks."""
        waiting = lane.parked.get(key)
        if waiting is None:  # dropped by close
            return
        while waiting:
            await self._gate.wait()
            if self._closing:
                return
            if not await self._attempt(lane, waiting.popleft()):
                return  # parked again; the rest keep waiting behind it
        lane.parked.pop(key, None)

    async def _attempt(self, lane: _Lane, record: InboundRecord) -> bool:
        """Hand ``record`` to the receiver; True when it is done, False when it parked."""
        assert record.envelope is not None
        lane.busy = True
        try:
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
            delay = None
        else:
            if delay is None:
                self.handled += 1
        finally:
            lane.busy = False
        if delay is None:
            self._complete(record.offset)
            return True
        self._park(lane, record, delay)
        return False

    def _park(self, lane: _Lane, record: InboundRecord, delay: float) -> None:
        """Park ``record``'s key and bring the record back after ``delay`` seconds."""
        self.retries += 1
        lane.parked.setdefault(record.park_key, deque())
        if self._closing:
            return  # abandoned: the next owner gets it again
        loop = asyncio.get_running_loop()
        self._timers[record.offset] = loop.call_later(max(0.0, delay), self._due, lane, record)

    def _due(self, lane: _Lane, record: InboundRecord) -> None:
        self._timers.pop(record.offset, None)
        if self._closing:
            return
        lane.due.append(record)
        lane.wake.set()

    @property
    def buffered(self) -> int:
        """Records received and not yet done (queued, running, parked or waiting).

        Records of other keys that finished after a parked one are not counted: the
        partition keeps flowing while a key waits, though its commits stay below it.
        """
        return self.tracker.unfinished

    @property
    def parked_keys(self) -> int:
        """Keys currently waiting for a delayed retry."""
        return sum(len(lane.parked) for lane in self._lanes)

    async def close(self, timeout: float) -> int | None:  # noqa: ASYNC109
        """Drop queued and parked records, let running handlers finish (cancel after ``timeout``).

        Returns the offset to commit for this partition (``None`` if no record was seen):
        never past a dropped, parked or cancelled record, which the next owner gets again.
        """
        self._closing = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        parked = self.parked_keys
        if parked:
            logger.info(
                "%s[%d]: %d key(s) parked for a delayed retry at revoke/stop; their records "
                "are abandoned uncommitted and the next owner gets them again",
                self.tp[0],
                self.tp[1],
                parked,
            )
        for lane in self._lanes:
            lane.queue.clear()
            lane.due.clear()
            lane.parked.clear()
        # A lane waiting for records or for the gate has nothing running: cancel it at once. A
        # lane inside a handler finishes it, then sees ``_closing`` and returns.
        busy = [t for t, lane in zip(self._tasks, self._lanes, strict=True) if lane.busy]
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


def _lane_of(record: InboundRecord, lanes: int) -> int:
    key = record.key
    return zlib.crc32(key if key else b"%d" % record.offset) % lanes
