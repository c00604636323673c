"""One activation of an actor in this process: its instance, state, version and mailbox.

The mailbox is an ``asyncio.Lock``: whoever handles a message for the actor (a Kafka lane, a
local queue, a call, a reminder, a deactivation) holds it for the message, so one message is
handled at a time, in the order they asked (the lock is fair). The running handler's
activation is in a ``ContextVar``, so code inside it that reaches the same actor again (a
handler calling its own actor, the re-run of messages after a refused save) runs at once
instead of waiting for itself.

``state_bytes`` is the serialized state after the last handled message (what the next save
writes; a failing handler's state is restored from it), ``version`` the version of the
stored row as last committed by this activation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from momentum.runtime.actor_commits import ActorEntry
    from momentum.runtime.actor_types import ActorType
    from momentum.runtime.actors import Actor

_current: ContextVar[Activation | None] = ContextVar("momentum_actor_activation", default=None)

ReminderChange = tuple[float, float | None] | None
"""A reminder set by the running handler: ``(due, every)``, or ``None`` to cancel it."""


def current_activation() -> Activation | None:
    """The activation whose message the running code handles, if any."""
    return _current.get()


class Activation:
    """An actor's activation (see the module docstring).

    Attributes:
        actor_type: The compiled actor class.
        key: The actor's key.
        actor: The actor instance (its ``state`` attribute is the live state).
        lock: The mailbox: held while a message is handled.
        version: Version of the stored state row this activation last committed or read.
        state_bytes: Serialized state after the last handled message.
        reminders: Pending reminders (name -> message id), after the last handled message.
        generation: Bumped when a save was refused: queued work of an older one is stale.
        fenced: Entries dropped when a save was refused, to handle again (``None``: none).
        retired: Deactivated: new messages get a new activation.
        partitions: Kafka ``(topic, partition)`` pairs its messages came from.
        home: The pair the latest of them came from (where its reminders belong).
        last_used: ``time.monotonic()`` of the last message.
        queued: Handled messages whose save is not committed yet.
    """

    __slots__ = (
        "_changes",
        "_drained",
        "actor",
        "actor_type",
        "fenced",
        "generation",
        "home",
        "key",
        "last_used",
        "lock",
        "partitions",
        "queued",
        "reminders",
        "retired",
        "state_bytes",
        "version",
    )

    def __init__(
        self,
        actor_type: ActorType,
        key: str,
        version: int,
        state_bytes: bytes | None,
        reminders: Mapping[str, str],
    ) -> None:
        self.actor_type = actor_type
        self.key = key
        self.lock = asyncio.Lock()
        self.generation = 0
        self.fenced: list[ActorEntry] | None = None
        self.retired = False
        self.partitions: set[tuple[str, int]] = set()
        self.home: tuple[str, int] | None = None
        self.last_used = time.monotonic()
        self.queued = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self._changes: dict[str, ReminderChange] = {}
        self.actor: Actor[Any] = actor_type.new_actor(key, self)
        self.version = 0
        self.state_bytes = b""
        self.reminders: Mapping[str, str] = {}
        self.reset(version, state_bytes, reminders)

    @property
    def ref(self) -> tuple[str, str]:
        """``(actor type name, key)``."""
        return (self.actor_type.name, self.key)

    def reset(self, version: int, state_bytes: bytes | None, reminders: Mapping[str, str]) -> None:
        """Take the stored state (``None``: the actor has none yet, its initial state)."""
        self.version = version
        self.reminders = dict(reminders)
        self._changes = {}
        if state_bytes is None:
            self.actor.state = self.actor.initial_state()
            self.state_bytes = self.actor_type.encode(self.actor.state)
        else:
            self.state_bytes = state_bytes
            self.actor.state = self.actor_type.decode(state_bytes)

    # -- handling --------------------------------------------------------------------------

    def enter(self) -> Any:
        """Mark the running code as handling this activation's message; returns a token."""
        self.last_used = time.monotonic()
        return _current.set(self)

    @staticmethod
    def leave(token: Any) -> None:
        """Undo :meth:`enter`."""
        _current.reset(token)

    def remind(self, name: str, due: float | None, every: float | None) -> None:
        """Note a reminder set (``due`` given) or cancelled by the running handler."""
        self._changes[name] = None if due is None else (due, every)

    def take_reminder_changes(self) -> dict[str, ReminderChange]:
        """The reminders set or cancelled since the last call (the handler succeeded)."""
        changes, self._changes = self._changes, {}
        return changes

    def pending_reminder_names(self) -> frozenset[str]:
        """Pending reminders, including the running handler's changes."""
        names = set(self.reminders)
        for name, change in self._changes.items():
            if change is None:
                names.discard(name)
            else:
                names.add(name)
        return frozenset(names)

    def commit_state(self) -> bytes:
        """Serialize the state after a handled message (it becomes what a failure restores)."""
        self.state_bytes = self.actor_type.encode(self.actor.state)
        return self.state_bytes

    def restore(self) -> None:
        """Undo a failed handler: the state and reminders as after the last handled message."""
        self._changes = {}
        self.actor.state = self.actor_type.decode(self.state_bytes)

    def state_copy(self) -> Any:
        """A copy of the state after the last handled message."""
        return self.actor_type.decode(self.state_bytes)

    # -- saves -----------------------------------------------------------------------------

    def queue(self, count: int = 1) -> None:
        """``count`` more saves are queued."""
        self.queued += count
        self._drained.clear()

    def settled(self, count: int) -> None:
        """``count`` queued saves were committed (or dropped)."""
        self.queued -= count
        if self.queued <= 0:
            self.queued = 0
            if self.fenced is None:
                self._drained.set()

    def fence(self, dropped: list[ActorEntry], *, stale: bool = True) -> None:
        """A save was refused: ``dropped`` must be handled again on the stored state.

        Args:
            dropped: The entries to handle again, in order.
            stale: Whether what is handled from now on (on the old state) is stale too;
                ``False`` for an entry of an older generation arriving late.
        """
        if stale:
            self.generation += 1
        self._drained.clear()
        if self.fenced is None:
            self.fenced = list(dropped)
        else:
            self.fenced.extend(dropped)

    def recovered(self) -> None:
        """The dropped entries were handled again (or given up)."""
        self.fenced = None
        if self.queued == 0:
            self._drained.set()

    async def drained(self) -> None:
        """Return once every save of this activation is committed (none dropped pending)."""
        while not self._drained.is_set():
            await self._drained.wait()

    def __repr__(self) -> str:
        return f"<Activation {self.actor_type.name} {self.key!r} v{self.version}>"
