"""Saves of actor states: many handled messages, one transaction; stale writers refused.

After an actor handled a message, what is left to write is an :class:`ActorEntry`: the
message's inbox row, the actor's new state and the outbox rows the handler produced. As in
the group commit of plain handlers (:mod:`momentum.runtime.group_commit`), entries are
queued and committed in batches, strictly in queue order, one transaction per batch: the
inbox rows, one optimistic save per actor in the batch (the state after its last message
there, ``UPDATE ... WHERE version = expected``) and the outbox rows. A handler's lane goes on
at once; the transport acknowledges (Kafka offsets) only after :meth:`ActorCommits.settle`.

A batch in which an actor's save is refused (its row moved on: another process owns the
key since a rebalance) or one of its messages is already in the inbox (another writer
handled it) is rolled back; that actor's entries are dropped from the queue, its
activation is *fenced* (told to reload the stored state and handle those messages again:
the inbox then skips those the other writer handled) and the rest of the batch is tried
again at once. Nothing of a refused writer is committed, so no effect of a stale state
escapes. A batch that fails otherwise (the database is away) is tried again unchanged after
a back-off, as in the group commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from momentum.contracts.errors import ActorConflictError, StoreError
from momentum.runtime.actor_states import ActorState, ActorStateWrite
from momentum.runtime.group_commit import RETRY_SECONDS
from momentum.runtime.store import InboxKey, MessageStore, OutgoingRecord

if TYPE_CHECKING:
    from collections.abc import Mapping

    from momentum.contracts.envelope import Envelope
    from momentum.runtime.actor_activation import Activation
    from momentum.runtime.actor_chains import ActorChain, ReminderChain
    from momentum.runtime.outbox import OutboxSession

logger = logging.getLogger("momentum.actors")


class ActorEntry:
    """One handled message (or hook) of an activation, waiting to be saved.

    Attributes:
        activation: The actor's activation.
        key: ``(message id, handler)``: its inbox row; ``None`` for calls and hooks.
        session: What the handler produced: outbox rows and local deliveries.
        state: The actor's serialized state after it.
        reminders: The actor's pending reminders after it.
        cancelled: Message ids of the reminders it replaced or forgot (their rows are
            cancelled with the save).
        generation: The activation's generation when it was handled.
        chain: The handler (``None`` for hooks), to handle the message again when fenced.
        envelope: The message (``None`` for hooks).
        done: Set once committed, for a caller waiting on it (calls).
        seq: Its place in the queue.
    """

    __slots__ = (
        "activation",
        "cancelled",
        "chain",
        "done",
        "envelope",
        "generation",
        "key",
        "reminders",
        "seq",
        "session",
        "state",
    )

    def __init__(
        self,
        activation: Activation,
        key: InboxKey | None,
        session: OutboxSession,
        state: bytes,
        reminders: Mapping[str, str],
        chain: ActorChain | ReminderChain | None = None,
        envelope: Envelope | None = None,
        done: asyncio.Future[None] | None = None,
        cancelled: Sequence[str] = (),
    ) -> None:
        self.activation = activation
        self.cancelled = cancelled
        self.key = key
        self.session = session
        self.state = state
        self.reminders = reminders
        self.generation = activation.generation
        self.chain = chain
        self.envelope = envelope
        self.done = done
        self.seq = 0


class _RefusedError(Exception):
    """Raised inside a batch's transaction to roll it back: these actors' saves are stale."""

    def __init__(self, refused: dict[Activation, ActorConflictError]) -> None:
        super().__init__(f"{len(refused)} actor save(s) refused")
        self.refused = refused


class ActorCommits:
    """Commits queued :class:`ActorEntry` objects in batches (see the module docstring).

    Args:
        store: The message store.
        committed: Called with each committed entry (starts its local deliveries).
        rows_committed: Called with the number of outbox rows of each committed batch.
        fenced: Called with an activation whose save was refused, its dropped entries (in
            order), the error, and whether its state is stale from now on (``False`` for a
            late entry of an earlier refusal).
        reminders: Destination of the reminder rows (replaced reminders are cancelled).
        max_batch: Entries per transaction at most.
    """

    def __init__(
        self,
        store: MessageStore,
        committed: Callable[[ActorEntry], None],
        rows_committed: Callable[[int], None],
        fenced: Callable[[Activation, list[ActorEntry], ActorConflictError, bool], None],
        reminders: str = "",
        max_batch: int = 500,
    ) -> None:
        self._store = store
        self._reminders = reminders
        self._committed = committed
        self._rows_committed = rows_committed
        self._fenced = fenced
        self._max_batch = max_batch
        self._queue: list[ActorEntry] = []
        self._keys: dict[InboxKey, int] = {}
        self._next = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._stopped = False
        self.batches = 0
        """Transactions committed so far."""
        self.refusals = 0
        """Actor saves refused so far (stale writers fenced)."""

    async def load(self, actor_type: str, key: str) -> ActorState | None:
        """The stored state of one actor."""
        return (await self._store.load_actor_states(actor_type, [key])).get(key)

    @property
    def unsettled(self) -> int:
        """Entries queued and not yet committed."""
        return len(self._queue)

    def holds(self, key: InboxKey) -> bool:
        """Whether ``key`` is queued: handled here, its inbox row not yet committed."""
        return key in self._keys

    def add(self, entry: ActorEntry) -> None:
        """Queue ``entry`` for the next batch (one of a fenced generation goes back at once)."""
        if self._stopped:
            raise StoreError("the service is stopping: no more actor state is saved")
        activation = entry.activation
        if entry.generation != activation.generation:  # handled while its save was refused
            self._fenced(activation, [entry], _stale(activation, "its state was reloaded"), False)
            return
        entry.seq = self._next
        self._next += 1
        self._queue.append(entry)
        activation.queue()
        if entry.key is not None:
            self._keys[entry.key] = self._keys.get(entry.key, 0) + 1
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="momentum-actor-commit")

    async def settle(self) -> None:
        """Return once every entry queued before this call is committed or dropped.

        Raises:
            StoreError: The service stopped first.
        """
        target = self._next
        if self._low() >= target:
            return
        if self._stopped:
            raise StoreError("the service stopped before its actor states were saved")
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((target, future))
        await future

    def _low(self) -> int:
        """The queue position below which every entry is committed or dropped."""
        return self._queue[0].seq if self._queue else self._next

    async def _flush(self) -> None:
        failures = 0
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                try:
                    written = await self._commit(batch)
                except _RefusedError as refused:
                    self._drop(refused.refused)
                    continue
                except Exception as exc:  # the database; a defect would repeat: logged loudly
                    delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                    failures += 1
                    log = logger.warning if isinstance(exc, StoreError) else logger.error
                    log(
                        "saving %d actor message(s) failed (%s: %s); none is acknowledged, "
                        "trying again in %.2f s",
                        len(batch),
                        type(exc).__name__,
                        exc,
                        delay,
                        exc_info=not isinstance(exc, StoreError),
                    )
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                self.batches += 1
                del self._queue[: len(batch)]
                self._wake()
                for entry in batch:
                    if entry.key is not None:
                        self._forget(entry.key)
                    try:
                        self._committed(entry)
                    except Exception:  # a local delivery that cannot start must not stop us
                        logger.exception("after saving actor %s", entry.activation)
                if written:
                    self._rows_committed(written)
        finally:
            self._flusher = None

    async def _commit(self, batch: list[ActorEntry]) -> int:
        groups: dict[Activation, list[ActorEntry]] = {}
        for entry in batch:
            groups.setdefault(entry.activation, []).append(entry)
        keyed = [entry for entry in batch if entry.key is not None]
        writes = [
            ActorStateWrite(a.actor_type.name, a.key, a.version, es[-1].state, es[-1].reminders)
            for a, es in groups.items()
        ]
        records: list[OutgoingRecord] = []
        async with self._store.transaction() as tx:
            refused: dict[Activation, ActorConflictError] = {}
            if keyed:
                fresh = await tx.record_inboxes([entry.key for entry in keyed])  # type: ignore[misc]
                for entry, new in zip(keyed, fresh, strict=True):
                    if not new and entry.activation not in refused:
                        assert entry.key is not None
                        refused[entry.activation] = _stale(
                            entry.activation,
                            f"message {entry.key[0]} is in the inbox already (another writer "
                            "handled it)",
                        )
            saved = await tx.save_actor_states(writes)
            for activation, ok in zip(groups, saved, strict=True):
                if not ok and activation not in refused:
                    refused[activation] = _stale(
                        activation,
                        f"version {activation.version} was expected; another writer saved it",
                    )
            if refused:
                raise _RefusedError(refused)  # rolls the batch back
            cancelled: list[str] = []
            for entry in batch:
                records.extend(entry.session.records)
                cancelled.extend(entry.cancelled)
            if records:
                await tx.add_outgoing(records)
            if cancelled:
                await tx.cancel_outgoing(self._reminders, cancelled)
        for activation, entries in groups.items():
            activation.version += 1
            activation.settled(len(entries))
        return len(records)

    def _drop(self, refused: dict[Activation, ActorConflictError]) -> None:
        """Take the refused actors' entries out of the queue and fence their activations."""
        kept: list[ActorEntry] = []
        dropped: dict[Activation, list[ActorEntry]] = {}
        for entry in self._queue:
            if entry.activation in refused:
                dropped.setdefault(entry.activation, []).append(entry)
                if entry.key is not None:
                    self._forget(entry.key)
            else:
                kept.append(entry)
        self._queue = kept
        self.refusals += len(refused)
        self._wake()
        for activation, entries in dropped.items():
            error = refused[activation]
            logger.warning(
                "%s; %d message(s) handled on the stale state are not acknowledged and are "
                "handled again on the stored state",
                error,
                len(entries),
            )
            activation.settled(len(entries))
            self._fenced(activation, entries, error, True)

    def _forget(self, key: InboxKey) -> None:
        left = self._keys[key] - 1
        if left:
            self._keys[key] = left
        else:
            del self._keys[key]

    def _wake(self) -> None:
        low = self._low()
        waiting = []
        for target, future in self._waiters:
            if target <= low:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((target, future))
        self._waiters = waiting

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109
        """Commit what is queued (for at most ``timeout`` seconds), then stop.

        Whatever is still queued then is abandoned: its messages were not acknowledged.
        """
        if self._queue:
            with contextlib.suppress(TimeoutError, StoreError):
                await asyncio.wait_for(self.settle(), timeout)
        self._stopped = True
        if self._queue:
            logger.warning(
                "stopping with %d actor message(s) not saved; they were not acknowledged "
                "and will be delivered again",
                len(self._queue),
            )
        flusher = self._flusher
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        for entry in self._queue:
            if entry.done is not None and not entry.done.done():
                entry.done.set_exception(StoreError("the service stopped before the save"))
        self._queue.clear()
        self._keys.clear()
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(StoreError("stopped before the save"))
        self._waiters.clear()


class MemoryActorStates:
    """Actor states kept in this process only: a service without a message store.

    Saves apply at once (no inbox, nothing survives the process), as everything else of a
    ``memory://`` service.
    """

    def __init__(self, committed: Callable[[ActorEntry], None]) -> None:
        self._committed = committed
        self.rows: dict[tuple[str, str], ActorState] = {}
        self.unsettled = 0
        self.refusals = 0

    async def load(self, actor_type: str, key: str) -> ActorState | None:
        """The kept state of one actor."""
        return self.rows.get((actor_type, key))

    def holds(self, key: InboxKey) -> bool:
        """Nothing is queued."""
        return False

    def add(self, entry: ActorEntry) -> None:
        """Keep the entry's state now; its deliveries start."""
        activation = entry.activation
        activation.version += 1
        self.rows[activation.ref] = ActorState(
            activation.actor_type.name,
            activation.key,
            activation.version,
            entry.state,
            entry.reminders,
            0.0,
        )
        self._committed(entry)

    async def settle(self) -> None:
        """Saved already."""

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109
        """Nothing to finish."""


def _stale(activation: Activation, reason: str) -> ActorConflictError:
    return ActorConflictError(
        activation.actor_type.name, activation.key, activation.version, reason
    )
