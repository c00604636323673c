"""The activations of a service's actors: their table, loading and lifecycle.

:class:`ActorLifecycle` is the half of :class:`~momentum.runtime.actor_runtime.ActorRuntime`
that owns activations: one per key, loaded once (concurrent first messages share the
load; a key being deactivated is loaded again only once its saves are committed),
deactivated when idle for ``idle_seconds``, beyond ``max_activations`` (least recently
used first), when the Kafka partitions their messages came from are revoked or lost, and
at stop. It also takes the refused saves of the commit pipeline: the activation is
fenced, reloads the stored state (``on_activate`` runs again) and handles the dropped
messages again, each through the inbox and the error policy, before any later message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from momentum.contracts.errors import ActorConflictError
from momentum.runtime.actor_activation import Activation
from momentum.runtime.actor_chains import REMINDER_HANDLER
from momentum.runtime.actor_commits import ActorCommits, ActorEntry, MemoryActorStates
from momentum.runtime.store import local_destination

if TYPE_CHECKING:
    from momentum.contracts.envelope import Envelope
    from momentum.runtime.actor_chains import ActorChain, ReminderChain
    from momentum.runtime.actor_types import ActorType
    from momentum.runtime.core import BusRuntime

logger = logging.getLogger("momentum.actors")

Ref = tuple[str, str]
"""``(actor type name, key)``."""


@dataclass(frozen=True, slots=True)
class ActorOptions:
    """How long activations live and how many there are at most.

    Attributes:
        idle_seconds: An activation without messages for this long is deactivated.
        max_activations: Activations kept at most in this process; beyond, the least
            recently used ones are deactivated.
    """

    idle_seconds: float = 300.0
    max_activations: int = 10_000


class ActorLifecycle:
    """Activations of one service's actors (see the module docstring).

    Args:
        runtime: The service's bus runtime.
        options: Activation lifetime and bound.
    """

    def __init__(self, runtime: BusRuntime, options: ActorOptions) -> None:
        self._runtime = runtime
        self.options = options
        self._table: OrderedDict[Ref, Activation] = OrderedDict()
        self._loading: dict[Ref, asyncio.Future[Activation]] = {}
        self._retiring: dict[Ref, asyncio.Future[None]] = {}
        self._leaving: set[Activation] = set()
        self._recovering: set[Activation] = set()
        self._recovered = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False
        durability = runtime.durability
        self.saves: ActorCommits | MemoryActorStates
        if durability is not None:
            self.saves = ActorCommits(
                durability.store,
                self._committed,
                runtime.outbox_committed,
                self._fence,
                reminders=local_destination(runtime.group, REMINDER_HANDLER),
            )
            durability.settlers.append(self.settle)
        else:
            self.saves = MemoryActorStates(self._committed)
        self.activated = 0
        """Activations created so far."""
        self.deactivated = 0
        """Activations retired so far."""

    async def _hook(self, activation: Activation, hook: Callable[[], Any]) -> None:
        """Run a lifecycle hook on the activation and save what it changed (the runtime)."""
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start deactivating idle activations."""
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="momentum-actor-sweeper")

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109
        """Deactivate every activation (``on_deactivate``, saves drained), then stop saving."""
        self._stopping = True
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        leaving = [self._retire(a, "the service stops") for a in list(self._table.values())]
        try:
            await asyncio.wait_for(
                asyncio.gather(*leaving, *list(self._tasks), return_exceptions=True), timeout
            )
        except TimeoutError:
            logger.warning("stopping: actors still deactivating after %g s", timeout)
        await self.saves.stop(timeout)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def settle(self) -> None:
        """Return once what actors handled so far is saved (dropped messages redone)."""
        while True:
            await self.saves.settle()
            if not self._recovering:
                return
            self._recovered.clear()
            await self._recovered.wait()

    @property
    def unsettled(self) -> int:
        """Saves queued and activations being recovered."""
        return self.saves.unsettled + len(self._recovering)

    @property
    def active(self) -> int:
        """Activations now."""
        return len(self._table)

    def activations_by_type(self) -> dict[str, int]:
        """Activations now, per actor type name."""
        counts: dict[str, int] = {}
        for name, _ in self._table:
            counts[name] = counts.get(name, 0) + 1
        return counts

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def partitions_revoked(self, partitions: Sequence[tuple[str, int]]) -> None:
        """Kafka took ``partitions`` away: deactivate the actors whose messages came from them.

        Returns once their ``on_deactivate`` ran and their last saves are queued; the
        transport settles (commits the saves) before it commits the offsets.
        """
        taken = set(partitions)
        victims = [a for a in self._table.values() if a.partitions & taken]
        if victims:
            logger.info(
                "deactivating %d actor(s) of %d revoked partition(s)", len(victims), len(taken)
            )
            await asyncio.gather(*(self._retire(a, "partition revoked") for a in victims))

    # -- activations -----------------------------------------------------------------------------

    async def _activation(self, actor_type: ActorType, key: str) -> Activation:
        """The activation of ``key``: the one in memory, else loaded (once, if concurrent)."""
        ref = (actor_type.name, key)
        table = self._table
        found = table.get(ref)
        if found is not None:
            table.move_to_end(ref)
            return found
        loading = self._loading.get(ref)
        if loading is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[Activation] = asyncio.get_running_loop().create_future()
        self._loading[ref] = future
        try:
            retiring = self._retiring.get(ref)
            if retiring is not None:  # its last saves first: then the stored state is current
                await asyncio.shield(retiring)
            row = await self.saves.load(actor_type.name, key)
            if row is None:
                activation = Activation(actor_type, key, 0, None, {})
            else:
                activation = Activation(actor_type, key, row.version, row.state, row.reminders)
            async with activation.lock:
                token = activation.enter()
                try:
                    await self._hook(activation, activation.actor.on_activate)
                finally:
                    activation.leave(token)
            table[ref] = activation
            self.activated += 1
            future.set_result(activation)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: concurrent callers get it, none may be waiting
            raise
        finally:
            del self._loading[ref]
        if len(table) > self.options.max_activations:
            self._evict()
        return activation

    def _evict(self) -> None:
        """Retire the least recently used activations beyond ``max_activations``."""
        excess = len(self._table) - self.options.max_activations
        for activation in itertools.islice(self._table.values(), excess * 2 + 8):
            if excess <= 0:
                return
            if activation in self._leaving or activation.lock.locked():
                continue
            excess -= 1
            self._leaving.add(activation)
            self._spawn(self._retire(activation, "too many activations"))

    async def _sweep(self) -> None:
        idle = self.options.idle_seconds
        interval = min(max(idle / 4, 0.05), 30.0)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for activation in list(self._table.values()):  # least recently used first
                if now - activation.last_used < idle:
                    break
                if activation in self._leaving or activation.lock.locked():
                    continue
                self._leaving.add(activation)
                self._spawn(self._retire(activation, "idle"))

    async def _retire(self, activation: Activation, why: str) -> None:
        """``on_deactivate``, leave the table, then (in the background) drain the saves."""
        ref = activation.ref
        try:
            async with activation.lock:
                if activation.retired:
                    return
                token = activation.enter()
                try:
                    if activation.fenced is not None:
                        await self._recover(activation)
                    try:
                        await self._hook(activation, activation.actor.on_deactivate)
                    except Exception:
                        logger.exception("%s: on_deactivate failed (%s)", activation, why)
                finally:
                    activation.leave(token)
                activation.retired = True
                if self._table.get(ref) is activation:
                    del self._table[ref]
                self.deactivated += 1
                waiter = self._retiring.get(ref)
                if waiter is None:
                    waiter = self._retiring[ref] = asyncio.get_running_loop().create_future()
            logger.debug("%s deactivated: %s", activation, why)
        finally:
            self._leaving.discard(activation)
        self._spawn(self._drain(activation, waiter))

    async def _drain(self, activation: Activation, waiter: asyncio.Future[None]) -> None:
        ref = activation.ref
        try:
            await activation.drained()
        finally:
            if self._retiring.get(ref) is waiter:
                del self._retiring[ref]
            if not waiter.done():
                waiter.set_result(None)

    def _committed(self, entry: ActorEntry) -> None:
        """An entry is saved: its local deliveries start, a waiting call returns."""
        for action in entry.session.after_commit:
            action()
        durability = self._runtime.durability
        if entry.key is not None and durability is not None:
            durability.lookup.forget(entry.key)
        done = entry.done
        if done is not None and not done.done():
            done.set_result(None)

    # -- refused saves -------------------------------------------------------------------------

    def _fence(
        self,
        activation: Activation,
        dropped: list[ActorEntry],
        error: ActorConflictError,
        stale: bool,
    ) -> None:
        """A save was refused: calls among ``dropped`` fail, the rest is handled again."""
        activation.fence(dropped, stale=stale)
        for entry in dropped:
            if entry.done is not None and not entry.done.done():
                entry.done.set_exception(error)
        if activation not in self._recovering:
            self._recovering.add(activation)
            self._spawn(self._recover_soon(activation))

    async def _recover_soon(self, activation: Activation) -> None:
        try:
            async with activation.lock:
                token = activation.enter()
                try:
                    await self._recover(activation)
                finally:
                    activation.leave(token)
        except Exception:
            logger.exception("%s: handling its dropped messages again failed", activation)
        finally:
            self._recovering.discard(activation)
            if not self._recovering:
                self._recovered.set()

    async def _recover(self, activation: Activation) -> None:
        """Reload the stored state and handle the dropped messages again, in order."""
        while activation.fenced:
            dropped, activation.fenced = activation.fenced, []
            row = await self.saves.load(activation.actor_type.name, activation.key)
            if row is None:
                activation.reset(0, None, {})
            else:
                activation.reset(row.version, row.state, row.reminders)
            logger.info(
                "%s reloaded at version %d; handling %d message(s) again",
                activation,
                activation.version,
                len(dropped),
            )
            await self._hook(activation, activation.actor.on_activate)
            for entry in dropped:
                if entry.done is not None or entry.chain is None or entry.envelope is None:
                    continue  # calls failed already; hooks ran again with the reload
                await self._redo(entry.chain, entry.envelope, entry.key is not None)
        activation.recovered()

    async def _redo(
        self, chain: ActorChain | ReminderChain, envelope: Envelope, inbound: bool
    ) -> None:
        """Handle a dropped message again under the error policy (the inbox first)."""
        delivery = self._runtime.delivery
        attempt = max(envelope.attempts, 1)
        while not self._stopping:
            delay, attempt = await delivery.attempt(chain, envelope, attempt, inbound=inbound)
            if delay is None:
                return
            await asyncio.sleep(delay)
