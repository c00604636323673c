"""Stateful actors: keyed, single-activation, with typed state persisted in the message store.

```python
@dataclass
class InvoiceState:
    amount: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)


class InvoiceActor(Actor[InvoiceState]):
    key_field = "invoice_id"  # default: the message's partition key

    @handler
    async def on_payment(self, event: PaymentReceived) -> InvoicePaid | None:
        self.state.paid += event.amount
        if self.state.paid >= self.state.amount:
            return InvoicePaid(...)  # cascaded as from any handler
        return None
```

An actor class is found in the service's packages (or added with ``Service.add_actor``). Its
handler methods are named like other handlers (``handle``/``consume``, ``_async`` suffixes,
or any name marked with :func:`~momentum.runtime.discovery.handler`); the first parameter
after ``self`` is the message type, other parameters are injected as for handlers. Each
message is routed to the actor whose key it carries: its partition key, the field named by
:attr:`Actor.key_field`, or what :meth:`Actor.key_of` returns.

Per key there is one *activation* in a process: its state is loaded on the first message,
messages are handled one at a time, the state is saved after each (with the message's inbox
row and the messages it cascaded, in one transaction) and the activation is dropped after
``actors.idle_seconds`` without messages (``on_deactivate`` first). Across processes the
Kafka partition that carries the key decides: only its owner activates the actor; a
rebalance deactivates the actors of revoked partitions before their offsets are committed,
and a writer whose state is stale (it lost the partition) is refused by the state row's
version check. The runtime's side lives in :mod:`momentum.runtime.actor_runtime`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, TypeVar, get_args, overload

from momentum.contracts.errors import ConfigurationError
from momentum.contracts.messages import Command, Query
from momentum.contracts.partitioning import PartitionKey, format_key_value, partition_key

if TYPE_CHECKING:
    from momentum.runtime.actor_activation import Activation
    from momentum.runtime.actor_runtime import ActorRuntime

S = TypeVar("S")
R = TypeVar("R")

ACTOR_MARK = "__momentum_actor__"
"""Class attribute marking actor classes (discovery skips their methods as plain handlers)."""


@dataclass(frozen=True)
class Reminder:
    """A durable reminder of an actor, handed to its :meth:`Actor.on_reminder`.

    A row of the service's durable local queue, due at its time: it survives restarts and is
    taken by whichever process of the service claims it. When the actor's messages come
    from a Kafka partition (its *home*), a process that does not own that partition and has
    no activation of the actor passes the reminder on (due again shortly, for the next
    claim) instead of activating the actor beside its owner, at most
    :data:`~momentum.runtime.actor_runtime.MAX_DEFERRALS` times.

    Attributes:
        actor_type: The actor's type name.
        key: The actor's key.
        name: The reminder's name (one pending reminder per name and actor).
        due_at: When it was due (POSIX seconds).
        every: For a periodic reminder, the seconds until the next one.
        token: Identifies this setting of the reminder (the actor's state keeps the
            token of the pending one: a replaced or forgotten reminder does not fire).
        home_topic: Topic of the Kafka partition the actor's messages came from, if any.
        home_partition: That partition.
        deferrals: How often it was passed on for the partition's owner.
    """

    __message_type__ = "Momentum.Actors.Reminder"

    actor_type: Annotated[str, PartitionKey(0)]
    key: Annotated[str, PartitionKey(1)]
    name: str
    due_at: float
    every: float | None = None
    token: str = ""
    home_topic: str | None = None
    home_partition: int | None = None
    deferrals: int = 0


def _due(delay: timedelta | float | None, at: datetime | None) -> float:
    if (delay is None) == (at is None):
        raise ValueError("remind() takes exactly one of delay= or at=")
    if at is not None:
        if at.tzinfo is None:
            raise ValueError("remind(at=...) needs a timezone-aware datetime")
        return at.timestamp()
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay or 0)
    return time.time() + seconds


class Actor(Generic[S]):
    """Base class of stateful actors: ``class InvoiceActor(Actor[InvoiceState])``.

    The state type (a dataclass or pydantic model, serialized as JSON with the messages'
    codec) is the type argument. ``self.state`` is loaded before the first message of an
    activation (:meth:`initial_state` when the actor has none stored yet) and saved after
    every handled message; a handler that raises leaves the state as it was before it.

    Attributes:
        actor_type: The type name the state is stored under; defaults to the class's fully
            qualified name. Set it to keep stored states when the class moves.
        key_field: The message field holding the actor key; ``None``: the message's
            partition key.
        state_type: The state class (from ``Actor[StateType]``).
        state: The actor's state.
    """

    __momentum_actor__: ClassVar[bool] = True
    actor_type: ClassVar[str] = ""
    key_field: ClassVar[str | None] = None
    state_type: ClassVar[type[Any]]
    state: S
    _key: str
    _activation: Activation

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "actor_type" not in cls.__dict__ or not cls.__dict__["actor_type"]:
            cls.actor_type = f"{cls.__module__}.{cls.__qualname__}"
        for base in getattr(cls, "__orig_bases__", ()):
            args = get_args(base)
            origin = getattr(base, "__origin__", None)
            if args and isinstance(origin, type) and issubclass(origin, Actor):
                if not isinstance(args[0], type):
                    raise ConfigurationError(
                        f"{cls.__qualname__}: the state type of Actor[...] must be a class "
                        f"(a dataclass or pydantic model), not {args[0]!r}"
                    )
                cls.state_type = args[0]

    @property
    def key(self) -> str:
        """The actor's key (the text form of the message key it was activated for)."""
        return self._key

    @classmethod
    def key_of(cls, message: Any) -> str:
        """The key of the actor that handles ``message``; override to derive it otherwise.

        By default the field named :attr:`key_field`, else the message's partition key.
        The runtime derives keys with a function compiled per message type unless this is
        overridden.
        """
        if cls.key_field is not None:
            return actor_key(getattr(message, cls.key_field))
        key = partition_key(message)
        if key is None:
            raise ConfigurationError(
                f"{cls.__qualname__}: {type(message).__qualname__} has no partition key to "
                "key the actor by; mark one with PartitionKey, or set key_field"
            )
        return key

    def initial_state(self) -> S:
        """The state of an actor with none stored yet: ``state_type()`` unless overridden."""
        try:
            made: S = self.state_type()
        except TypeError as exc:
            raise ConfigurationError(
                f"{type(self).__qualname__}: {self.state_type.__qualname__}() needs arguments "
                f"({exc}); give its fields defaults or override initial_state()"
            ) from exc
        return made

    async def on_activate(self) -> None:
        """Called once the state is loaded, before the activation's first message."""

    async def on_deactivate(self) -> None:
        """Called before the activation is dropped (idle, rebalance, stop); state is saved."""

    async def on_reminder(self, reminder: Reminder) -> Any:
        """Called when a reminder set with :meth:`remind` is due; may return messages."""
        return None

    def remind(
        self,
        name: str,
        *,
        delay: timedelta | float | None = None,
        at: datetime | None = None,
        every: timedelta | float | None = None,
    ) -> None:
        """Call :meth:`on_reminder` after ``delay`` (or ``at`` a time), durably.

        The reminder is written with the state when the current message's handling is
        saved (nothing is kept if the handler fails); it survives restarts. Setting a
        reminder of a pending name replaces it. With ``every``, it comes again every
        ``every`` seconds after each time it fired, until :meth:`forget_reminder`.
        """
        period = every.total_seconds() if isinstance(every, timedelta) else every
        if period is not None and period <= 0:
            raise ValueError("remind(every=...) needs a positive period")
        self._activation.remind(name, _due(delay, at), period)

    def forget_reminder(self, name: str) -> None:
        """Cancel the pending reminder ``name`` (no error when there is none)."""
        self._activation.remind(name, None, None)

    @property
    def reminders(self) -> frozenset[str]:
        """Names of the pending reminders (including those set by the running handler)."""
        return self._activation.pending_reminder_names()

    def __repr__(self) -> str:
        key = getattr(self, "_key", "?")
        return f"<{type(self).__qualname__} {key!r}>"


A = TypeVar("A", bound=Actor[Any])


class ActorRef(Generic[S]):
    """A handle on one actor of a running service: ``service.actors.get(InvoiceActor, key)``.

    Calls run on the actor's activation in this process, one at a time with its other
    messages.
    """

    def __init__(self, runtime: ActorRuntime, actor: type[Actor[S]], key: str) -> None:
        self._runtime = runtime
        self.actor = actor
        self.key = key

    @overload
    async def call(self, message: Command[R]) -> R: ...
    @overload
    async def call(self, message: Query[R]) -> R: ...
    @overload
    async def call(self, message: object) -> Any: ...
    async def call(self, message: Any) -> Any:
        """Handle ``message`` on this actor and return its handler's response.

        As ``bus.invoke``: the response is the first returned element of the command's
        response type, the other returned messages are published. Returns once the state
        and the published messages are committed.

        Raises:
            ActorConflictError: Another process saved the actor meanwhile (a rebalance); the
                call's effects were discarded: call again.
            HandlerConfigurationError: The actor has no handler for the message's type.
        """
        return await self._runtime.call(self.actor, self.key, message)

    async def state(self) -> S:
        """A copy of the actor's current state (after the messages handled so far)."""
        found: S = await self._runtime.read(self.actor, self.key)
        return found

    def __repr__(self) -> str:
        return f"<ActorRef {self.actor.__qualname__} {self.key!r}>"


class ActorDirectory:
    """The actors of a running service (``service.actors``)."""

    def __init__(self, runtime: ActorRuntime) -> None:
        self._runtime = runtime

    def get(self, actor: type[Actor[S]], key: object) -> ActorRef[S]:
        """The actor of class ``actor`` with ``key`` (text, or a UUID, int, enum...)."""
        self._runtime.actor_type(actor)  # refuses classes the service does not run
        return ActorRef(self._runtime, actor, actor_key(key))

    @property
    def active(self) -> int:
        """Activations in this process now."""
        return self._runtime.active

    def activations(self) -> Mapping[str, int]:
        """Activations in this process per actor type name."""
        return self._runtime.activations_by_type()


def actor_key(value: object) -> str:
    """An actor key as text: as partition keys write values (UUIDs canonical, enums by name)."""
    try:
        return format_key_value(value)
    except TypeError as exc:
        raise ConfigurationError(f"{value!r} cannot be an actor key: {exc}") from None


def is_actor_class(obj: object) -> bool:
    """Whether ``obj`` is a subclass of :class:`Actor` (not ``Actor`` itself)."""
    return isinstance(obj, type) and issubclass(obj, Actor) and obj is not Actor


__all__ = [
    "ACTOR_MARK",
    "Actor",
    "ActorDirectory",
    "ActorRef",
    "Reminder",
    "actor_key",
    "is_actor_class",
]
