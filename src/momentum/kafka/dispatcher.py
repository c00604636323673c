"""``Dispatcher``: the event-loop half of the consumer.

The consumer thread hands it batches of decoded records and rebalance events, always through
``loop.call_soon_threadsafe`` (or ``run_coroutine_threadsafe`` for revokes), so the loop sees
them in exactly the order the thread produced them. The dispatcher routes records to
partition workers, commits progress periodically, asks the thread to pause a partition whose
unfinished records exceed the limit (and to resume it at half), and answers revokes with the
offsets to commit once the partition's running handlers are done (records parked for a
delayed retry are abandoned then, uncommitted: the next owner gets them again), its revoke
listener has deactivated what came from them (the runtime's actors: their state saved) and
the handled records are settled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from momentum.contracts.errors import StoreError, TransportError
from momentum.kafka.config import KafkaConfig
from momentum.kafka.partitions import InboundRecord, PartitionWorker, TopicPartition
from momentum.runtime.ports import DurableReceiver, Receiver, RejectedRecord, RevokeListener

if TYPE_CHECKING:
    from momentum.kafka.rejected import PoisonKeeper

logger = logging.getLogger("momentum.kafka.consumer")

Offsets = list[tuple[str, int, int, int]]
"""``(topic, partition, offset, epoch)`` to commit."""


class ConsumerControl:
    """What the dispatcher asks of the consumer thread (implemented by the thread)."""

    def commit_async(self, offsets: Offsets) -> None:
        """Commit ``offsets`` without waiting (dropped for partitions of another epoch)."""
        raise NotImplementedError

    def pause(self, tp: TopicPartition, epoch: int) -> None:
        """Stop fetching ``tp`` (its already fetched records are discarded by librdkafka)."""
        raise NotImplementedError

    def resume(self, tp: TopicPartition, epoch: int) -> None:
        """Fetch ``tp`` again from the record after the last one delivered."""
        raise NotImplementedError


class Dispatcher:
    """Partition workers, commits and back pressure for one consumer (loop side)."""

    def __init__(
        self,
        config: KafkaConfig,
        receiver: Receiver,
        control: ConsumerControl,
        keeper: PoisonKeeper | None = None,
    ) -> None:
        self._config = config
        self._keeper = keeper
        self._receiver = receiver
        durable = receiver if isinstance(receiver, DurableReceiver) else None
        self._settle = durable.settle if durable is not None else None
        self._expect = durable.expect if durable is not None else None
        self._control = control
        self.workers: dict[TopicPartition, PartitionWorker] = {}
        self.assigned_once = asyncio.Event()
        self._changed: asyncio.Event | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.pauses = 0
        self.assignments = 0
        """Assignments received (one per rebalance that gave this consumer partitions)."""
        self.revocations = 0
        """Revokes and losses received (one per rebalance that took partitions away)."""
        self.gate = asyncio.Event()
        self.gate.set()
        self.stopped = False
        self._committer: asyncio.Task[None] | None = None
        self._resume_at = max(1, config.max_buffered_per_partition // 2)
        self.revoke_listener: RevokeListener | None = None
        """Told of revoked and lost partitions (the runtime deactivates their actors)."""

    def start(self) -> None:
        """Start the periodic committer."""
        self._committer = asyncio.create_task(self._commit_loop(), name="momentum-kafka-commit")

    # -- called from the consumer thread (through the loop) --------------------------------

    def assign(self, partitions: Sequence[tuple[str, int, int]]) -> None:
        """Create workers for newly assigned ``(topic, partition, epoch)``."""
        self.assignments += 1
        for topic, partition, epoch in partitions:
            tp = (topic, partition)
            if tp in self.workers:
                logger.warning("partition %s[%d] assigned twice", topic, partition)
                continue
            self.workers[tp] = PartitionWorker(
                tp, epoch, self._receiver, self._config.key_concurrency, self._notify, self.gate
            )
        logger.debug("assigned %s", [f"{t}[{p}]" for t, p, _ in partitions])
        self.assigned_once.set()
        self._notify()

    def accept(
        self, records: Sequence[InboundRecord], rejected: Sequence[RejectedRecord] = ()
    ) -> None:
        """Route a batch of records to their partition workers.

        ``rejected`` are the batch's poison records (their ``InboundRecord`` carries no
        envelope): each is held unfinished until the keeper has kept it.
        """
        if self.stopped:
            return
        touched: set[PartitionWorker] = set()
        expect = self._expect
        if expect is not None:  # their inbox checks in one query, ahead of their turn
            expect([r.envelope for r in records if r.envelope is not None])
        poison = {(r.topic, r.partition, r.offset): r for r in rejected} if rejected else None
        for record in records:
            worker = self.workers.get((record.topic, record.partition))
            if worker is None:  # revoked between fetch and now: the next owner reads it
                continue
            try:
                if poison is not None and record.envelope is None:
                    found = poison.get((record.topic, record.partition, record.offset))
                    if found is not None:
                        self._hold(worker, found)
                        touched.add(worker)
                        continue
                worker.accept(record)
            except TransportError as exc:  # offsets went backwards (a reset): not handled twice
                logger.error("%s[%d]: %s; record ignored", record.topic, record.partition, exc)
                continue
            touched.add(worker)
        for worker in touched:
            if not worker.paused and worker.buffered >= self._config.max_buffered_per_partition:
                worker.paused = True
                self.pauses += 1
                self._control.pause(worker.tp, worker.epoch)
                logger.info(
                    "paused %s[%d] for back pressure: %d records unfinished (limit %d); "
                    "resumed at %d",
                    *worker.tp,
                    worker.buffered,
                    self._config.max_buffered_per_partition,
                    self._resume_at,
                )
                self._spawn(self._resume_when_drained(worker))
        self._notify()

    def _hold(self, worker: PartitionWorker, record: RejectedRecord) -> None:
        """A poison record: unfinished until kept (at once without a keeper)."""
        offset = record.offset
        assert offset is not None
        worker.hold(offset)
        if self._keeper is None:
            worker.release(offset)
        else:
            self._keeper.keep(record, partial(worker.release, offset))

    async def revoke(self, partitions: Sequence[TopicPartition]) -> Offsets:
        """Finish the running handlers of ``partitions``; return the offsets to commit.

        Poison records being kept get ``revoke_timeout`` to be kept first (their offsets
        are committed only then).
        """
        self.revocations += 1
        if self._keeper is not None and self._keeper.pending:
            await self._keeper.drain(self._config.revoke_timeout)
        workers = [w for tp in partitions if (w := self.workers.pop(tp, None)) is not None]
        offsets: Offsets = []
        results = await asyncio.gather(
            *(w.close(self._config.revoke_timeout) for w in workers), return_exceptions=True
        )
        for worker, result in zip(workers, results, strict=True):
            if isinstance(result, BaseException):
                logger.error("closing %s[%d] failed: %r", *worker.tp, result)
            elif result is not None:
                offsets.append((*worker.tp, result, worker.epoch))
        self._notify()
        await self._tell_revoked(partitions)  # their actors' last saves queued, settled below
        if offsets and not await self._settled(self._config.revoke_timeout):
            return []  # the handled records' inbox rows did not commit: the next owner redoes them
        return offsets

    async def _settled(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until what the receiver finished is durable (its inbox rows committed)."""
        if self._settle is None:
            return True
        try:
            await asyncio.wait_for(self._settle(), timeout)
        except (TimeoutError, StoreError) as exc:
            logger.warning(
                "handled records were not committed to the message store (%s); their offsets "
                "are not committed and the records will be delivered again",
                type(exc).__name__,
            )
            return False
        return True

    def lose(self, partitions: Sequence[TopicPartition]) -> None:
        """Partitions were lost (not revoked): drop their work, commit nothing."""
        self.revocations += 1
        for tp in partitions:
            worker = self.workers.pop(tp, None)
            if worker is not None:
                self._spawn(worker.close(0))
        self._spawn(self._tell_revoked(partitions))
        self._notify()

    async def _tell_revoked(self, partitions: Sequence[TopicPartition]) -> None:
        listener = self.revoke_listener
        if listener is None or not partitions:
            return
        try:
            await asyncio.wait_for(listener(list(partitions)), self._config.revoke_timeout)
        except Exception:
            logger.exception("the revoke listener failed for %d partition(s)", len(partitions))

    # -- loop side -------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def watch(self) -> asyncio.Event:
        """An event set at the next change (assignment, record received or completed)."""
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _notify(self) -> None:
        changed = self._changed
        if changed is not None:  # only when somebody watches: this runs once per record
            self._changed = None
            changed.set()

    async def _resume_when_drained(self, worker: PartitionWorker) -> None:
        while worker.buffered > self._resume_at and self.workers.get(worker.tp) is worker:
            worker.progress.clear()
            await worker.progress.wait()
        if self.workers.get(worker.tp) is worker:
            worker.paused = False
            self._control.resume(worker.tp, worker.epoch)
            logger.info("resumed %s[%d]: %d records unfinished", *worker.tp, worker.buffered)

    def pending_commits(self) -> Offsets:
        """Offsets that advanced since the last commit (not yet marked as committed)."""
        offsets: Offsets = []
        for worker in self.workers.values():
            offset = worker.tracker.to_commit()
            if offset is not None:
                offsets.append((*worker.tp, offset, worker.epoch))
        return offsets

    def mark_committed(self, offsets: Offsets) -> None:
        """Note ``offsets`` as committed (for partitions still assigned in that epoch)."""
        for topic, partition, offset, epoch in offsets:
            worker = self.workers.get((topic, partition))
            if worker is not None and worker.epoch == epoch:
                worker.tracker.committed = offset

    def commit_failed(self, partitions: Sequence[TopicPartition]) -> None:
        """An asynchronous commit of ``partitions`` failed: commit them again next cycle."""
        for tp in partitions:
            worker = self.workers.get(tp)
            if worker is not None:
                worker.tracker.committed = None

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self._config.commit_interval)
            offsets = self.pending_commits()
            # only what is durable: records finished before the offsets were taken
            if offsets and await self._settled():
                self.mark_committed(offsets)
                self._control.commit_async(offsets)

    @property
    def in_flight(self) -> int:
        """Records received by this consumer and not yet done."""
        return sum(w.buffered for w in self.workers.values())

    @property
    def paused_partitions(self) -> list[TopicPartition]:
        """Partitions whose fetching is paused for back pressure, sorted."""
        return sorted(tp for tp, worker in self.workers.items() if worker.paused)

    @property
    def parked_keys(self) -> int:
        """Keys waiting for a delayed retry, over all assigned partitions."""
        return sum(w.parked_keys for w in self.workers.values())

    def position(self, tp: TopicPartition) -> int | None:
        """Offset below which every received record of ``tp`` is done (``None``: unknown)."""
        worker = self.workers.get(tp)
        return None if worker is None else worker.tracker.position

    async def stop(self) -> None:
        """Stop the committer (the thread commits the final offsets through ``revoke``)."""
        self.stopped = True
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
