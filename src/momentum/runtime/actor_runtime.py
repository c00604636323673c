"""``ActorRuntime``: how messages reach a service's actors and are handled there.

Messages reach an actor through its compiled handler chains
(:mod:`momentum.runtime.actor_chains`): a received message (``inbound``, with the inbox
check), a queued one (``dispatch``), a call (``invoke``/``call``) or a reminder. Each goes to
the activation of the actor's key (:mod:`momentum.runtime.actor_lifecycle`: created on the
first message, state loaded, ``on_activate``) and is handled while holding its mailbox: the
handler runs, its cascaded messages become outbox rows of its own session, the reminders it
set become durable rows of that session, the new state is serialized, and the whole is
queued as one :class:`~momentum.runtime.actor_commits.ActorEntry` for the saves. A handler
that raises leaves the state and reminders as they were.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from uuid import UUID

from momentum.contracts.envelope import Envelope, new_message_id_text
from momentum.contracts.errors import ConfigurationError, HandlerConfigurationError
from momentum.contracts.messages import Command, Query
from momentum.runtime.actor_activation import Activation, current_activation
from momentum.runtime.actor_chains import ActorChain, ReminderChain
from momentum.runtime.actor_commits import ActorCommits, ActorEntry
from momentum.runtime.actor_lifecycle import ActorLifecycle, ActorOptions
from momentum.runtime.actor_types import ActorType
from momentum.runtime.actors import Actor, Reminder
from momentum.runtime.bus import MessageBus
from momentum.runtime.outbox import OutboxSession, enter_session, leave_session
from momentum.runtime.pipeline import cascades_of, split_response
from momentum.runtime.ports import AssignedTransport
from momentum.runtime.store import InboxKey
from momentum.runtime.tracking import Activity

if TYPE_CHECKING:
    from momentum.runtime.core import BusRuntime
    from momentum.runtime.discovery import HandlerInfo
    from momentum.runtime.injection import Injector
    from momentum.runtime.middleware import Middleware
    from momentum.runtime.pipeline import HandlerChain, Validator

logger = logging.getLogger("momentum.actors")

AnyChain = ActorChain | ReminderChain

MAX_DEFERRALS = 20
"""How often a reminder is passed on for its actor's partition owner before any process
takes it (a partition without an owner for longer, during a long rebalance)."""

DEFER_SECONDS = 0.5
"""When a reminder passed on is due again."""

__all__ = ["ActorOptions", "ActorRuntime"]


class ActorRuntime(ActorLifecycle):
    """The actors of one service (see the module docstring).

    Args:
        runtime: The service's bus runtime.
        options: Activation lifetime and bound.
        duplicate: Reports a redelivery the inbox skipped (the runtime's tracker and log).
    """

    def __init__(
        self,
        runtime: BusRuntime,
        options: ActorOptions,
        duplicate: Callable[[Envelope, str], None],
    ) -> None:
        super().__init__(runtime, options)
        self._duplicate = duplicate
        self._types: dict[type, ActorType] = {}
        self._by_name: dict[str, ActorType] = {}

    # -- compilation -------------------------------------------------------------------------

    def compile(
        self,
        classes: Sequence[type],
        handlers: Sequence[HandlerInfo],
        injector: Injector,
        validators: Callable[[type], list[Validator]],
        middlewares: Callable[[type], list[Middleware]],
        chains: dict[type, list[HandlerChain]],
    ) -> None:
        """Compile the actor classes and their handler methods into ``chains``.

        Raises:
            HandlerConfigurationError: A class cannot be an actor (no state type, a state
                that cannot be stored, two classes with one type name, two methods for one
                message type), or a command gets a second handler.
        """
        runtime = self._runtime
        for cls in classes:
            actor_type = ActorType(cls, injector, runtime.root_bus)
            other = self._by_name.get(actor_type.name)
            if other is not None:
                raise HandlerConfigurationError(
                    f"{cls.__module__}.{cls.__qualname__} and {other.cls.__module__}."
                    f"{other.cls.__qualname__} are both stored as actor type "
                    f"{actor_type.name!r}; give one another actor_type"
                )
            self._types[cls] = actor_type
            self._by_name[actor_type.name] = actor_type
        for info in handlers:
            assert info.owner is not None
            actor_type = self._types[info.owner]
            message_type = info.message_type
            if message_type in actor_type.chains:
                raise HandlerConfigurationError(
                    f"{actor_type.chains[message_type].info.location} and {info.location} both "
                    f"handle {message_type.__qualname__} in one actor"
                )
            existing = chains.get(message_type, [])
            if existing and issubclass(message_type, Command | Query):
                raise HandlerConfigurationError(
                    f"{message_type.__qualname__} is a command/query and must have exactly one "
                    f"handler, found two: {existing[0].info.location} and {info.location}"
                )
            chain = ActorChain(
                info,
                actor_type,
                runtime,
                self,
                injector,
                validators(message_type),
                middlewares(message_type),
            )
            actor_type.chains[message_type] = chain
            chains.setdefault(message_type, []).append(chain)
        if self._types:
            chains[Reminder] = [ReminderChain(runtime, self)]

    def actor_type(self, cls: type) -> ActorType:
        """The compiled actor class ``cls``; refuses classes this service does not run."""
        found = self._types.get(cls)
        if found is None:
            raise ConfigurationError(
                f"{getattr(cls, '__qualname__', cls)!r} is not an actor of this service: put "
                "it in the service's packages or add it with service.add_actor(...)"
            )
        return found

    @property
    def types(self) -> Mapping[str, ActorType]:
        """The compiled actor classes by type name."""
        return self._by_name

    # -- entry points ----------------------------------------------------------------------------

    async def inbound(self, chain: AnyChain, envelope: Envelope) -> None:
        """A received message (with a store): skipped when the inbox has it, else handled."""
        key = (envelope.message_id_text, chain.name)
        durability = self._runtime.durability
        assert durability is not None
        if self.saves.holds(key):  # handled here moments ago, its save queued
            durability.lookup.forget(key)
            self._duplicate(envelope, chain.name)
            return
        if await durability.lookup.recorded(key):
            self._duplicate(envelope, chain.name)
            return
        await self._deliver(chain, envelope, key)

    async def dispatch(self, chain: AnyChain, envelope: Envelope) -> None:
        """A queued message without an inbox row (no store, or a local replay)."""
        await self._deliver(chain, envelope, None)

    async def invoke(self, chain: ActorChain, message: Any, caller: MessageBus) -> Any:
        """``bus.invoke`` of a message an actor handles: a call on the message's actor."""
        envelope = caller.envelope_for(message)
        tracker = self._runtime.tracker
        if tracker is not None:
            tracker.record(Activity("invoked", message, envelope))
        return await self._call(chain, envelope, None)

    async def call(self, cls: type[Actor[Any]], key: str, message: Any) -> Any:
        """``ActorRef.call``: ``message`` handled by the actor ``cls`` with ``key``."""
        actor_type = self.actor_type(cls)
        chain = next(
            (actor_type.chains[k] for k in type(message).__mro__ if k in actor_type.chains), None
        )
        if chain is None:
            raise HandlerConfigurationError(
                f"{cls.__qualname__} has no handler for {type(message).__qualname__}"
            )
        envelope = self._runtime.root_bus.envelope_for(message)
        tracker = self._runtime.tracker
        if tracker is not None:
            tracker.record(Activity("invoked", message, envelope))
        return await self._call(chain, envelope, key)

    async def _call(self, chain: ActorChain, envelope: Envelope, key: str | None) -> Any:
        done = (
            asyncio.get_running_loop().create_future()
            if isinstance(self.saves, ActorCommits)
            else None
        )
        response = await self._deliver(chain, envelope, None, done=done, respond=True, key=key)
        if done is not None:
            await done  # the state and the published messages are committed
        return response

    async def read(self, cls: type[Actor[Any]], key: str) -> Any:
        """A copy of the state of the actor ``cls`` with ``key``, in turn with its messages."""
        actor_type = self.actor_type(cls)
        held = current_activation()
        if held is not None and held.actor_type is actor_type and held.key == key:
            return held.actor_type.decode(held.actor_type.encode(held.actor.state))
        while True:
            activation = await self._activation(actor_type, key)
            async with activation.lock:
                if not activation.retired:
                    return activation.state_copy()

    async def fire(self, envelope: Envelope) -> Any:
        """Run a due reminder on its activation (the reminder chain's ``run``)."""
        activation = current_activation()
        assert activation is not None
        reminder: Reminder = envelope.message
        if activation.reminders.get(reminder.name) != reminder.token:
            logger.debug(
                "%s: reminder %r %s was replaced or cancelled; ignored",
                activation,
                reminder.name,
                envelope.message_id,
            )
            return None
        if reminder.every is not None:
            now = time.time()
            due = reminder.due_at + reminder.every
            activation.remind(
                reminder.name, due if due > now else now + reminder.every, reminder.every
            )
        else:
            activation.remind(reminder.name, None, None)
        ret = activation.actor.on_reminder(reminder)
        if inspect.isawaitable(ret):
            ret = await ret
        return ret

    # -- activations -----------------------------------------------------------------------------

    def _target(self, chain: AnyChain, message: Any) -> tuple[ActorType, str]:
        if isinstance(chain, ActorChain):
            return chain.actor, chain.key_of(message)
        actor_type = self._by_name.get(message.actor_type)
        if actor_type is None:
            raise HandlerConfigurationError(
                f"reminder {message.name!r} of {message.actor_type} {message.key!r}: this "
                "service runs no actor of that type"
            )
        return actor_type, message.key

    # -- handling ----------------------------------------------------------------------------

    async def _deliver(
        self,
        chain: AnyChain,
        envelope: Envelope,
        inbox_key: InboxKey | None,
        *,
        done: asyncio.Future[None] | None = None,
        respond: bool = False,
        key: str | None = None,
    ) -> Any:
        """Handle ``envelope`` on its actor's activation, holding its mailbox."""
        if isinstance(chain, ActorChain):
            actor_type = chain.actor
            if key is None:
                key = chain.key_of(envelope.message)
        else:
            actor_type, key = self._target(chain, envelope.message)
            if (actor_type.name, key) not in self._table and await self._pass_on(envelope):
                return None
        held = current_activation()
        if held is not None and held.actor_type is actor_type and held.key == key:
            return await self._handle(held, chain, envelope, inbox_key, done, respond)
        while True:
            activation = await self._activation(actor_type, key)
            async with activation.lock:
                if activation.retired:  # deactivated while this waited: a new one
                    continue
                token = activation.enter()
                try:
                    if activation.fenced is not None:
                        await self._recover(activation)
                    origin = envelope.origin
                    if origin is not None and origin.partition is not None and origin.topic:
                        home = activation.home = (origin.topic, origin.partition)
                        activation.partitions.add(home)
                    return await self._handle(activation, chain, envelope, inbox_key, done, respond)
                finally:
                    activation.leave(token)

    async def _pass_on(self, envelope: Envelope) -> bool:
        """Pass a reminder on when another process owns its actor's home partition.

        Returns:
            Whether it was passed on: a copy is due again in :data:`DEFER_SECONDS`.
        """
        reminder: Reminder = envelope.message
        transport = self._runtime.transport
        if (
            reminder.home_topic is None
            or reminder.home_partition is None
            or reminder.deferrals >= MAX_DEFERRALS
            or not isinstance(transport, AssignedTransport)
            or (reminder.home_topic, reminder.home_partition) in transport.assignment
        ):
            return False
        again = envelope.for_attempt(envelope.attempts)  # its message id is its token
        again.message = replace(reminder, deferrals=reminder.deferrals + 1)
        await self._runtime.schedule(again, time.time() + DEFER_SECONDS)
        logger.debug(
            "reminder %r of %s %r passed on: %s[%d] is another process's",
            reminder.name,
            reminder.actor_type,
            reminder.key,
            reminder.home_topic,
            reminder.home_partition,
        )
        return True

    async def _handle(
        self,
        activation: Activation,
        chain: AnyChain,
        envelope: Envelope,
        inbox_key: InboxKey | None,
        done: asyncio.Future[None] | None,
        respond: bool,
    ) -> Any:
        """Run the handler on the activation and queue its save; the response if asked."""
        runtime = self._runtime
        session = OutboxSession(None)
        token = enter_session(session)
        try:
            ret = await chain.run(envelope)
            if respond:
                response, cascades = split_response(ret, chain.classes)
            else:
                response, cascades = None, cascades_of(ret, chain.classes)
            if cascades:
                await runtime.cascade(MessageBus(runtime, envelope.message, envelope), cascades)
            state = activation.actor_type.encode(activation.actor.state)
            reminders, cancelled = await self._reminders(activation, envelope)
        except BaseException:
            activation.restore()
            raise
        finally:
            leave_session(token)
        activation.state_bytes = state
        activation.reminders = reminders
        self.saves.add(
            ActorEntry(
                activation, inbox_key, session, state, reminders, chain, envelope, done, cancelled
            )
        )
        return response

    async def _hook(self, activation: Activation, hook: Callable[[], Any]) -> None:
        """Run a lifecycle hook on the activation; save what it changed."""
        session = OutboxSession(None)
        token = enter_session(session)
        try:
            ret = hook()
            if inspect.isawaitable(ret):
                await ret
            state = activation.actor_type.encode(activation.actor.state)
            reminders, cancelled = await self._reminders(activation, None)
        except BaseException:
            activation.restore()
            raise
        finally:
            leave_session(token)
        unchanged = state == activation.state_bytes and reminders is activation.reminders
        if unchanged and not session.records and not session.after_commit:
            return
        activation.state_bytes = state
        activation.reminders = reminders
        self.saves.add(ActorEntry(activation, None, session, state, reminders, cancelled=cancelled))

    async def _reminders(
        self, activation: Activation, envelope: Envelope | None
    ) -> tuple[Mapping[str, str], list[str]]:
        """Schedule the reminders the handler set (durable rows of its session).

        Returns:
            The pending reminders after the handler, and the message ids of those it
            replaced or forgot (their rows are cancelled with the save).
        """
        changes = activation.take_reminder_changes()
        if not changes:
            return activation.reminders, []
        runtime = self._runtime
        bus = (
            MessageBus(runtime, envelope.message, envelope)
            if envelope is not None
            else runtime.root_bus
        )
        reminders = dict(activation.reminders)
        cancelled: list[str] = []
        for name, change in changes.items():
            previous = reminders.pop(name, None)
            if previous is not None:
                cancelled.append(previous)
            if change is None:
                continue
            due, every = change
            home = activation.home
            token = new_message_id_text()  # the message id of its row
            reminder = Reminder(
                activation.actor_type.name,
                activation.key,
                name,
                due,
                every,
                token,
                home[0] if home is not None else None,
                home[1] if home is not None else None,
            )
            child = bus.envelope_for(reminder)
            scheduled = Envelope(
                reminder,
                message_id=UUID(token),
                correlation_id=child.correlation_id,
                causation_id=child.causation_id,
                tenant_id=child.tenant_id,
                source=child.source or runtime.source,
            )
            await runtime.schedule(scheduled, due)
            reminders[name] = token
        return reminders, cancelled
