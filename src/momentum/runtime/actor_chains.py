"""Actor handler methods compiled into chains the bus routes to like any other handler.

An :class:`ActorChain` is a :class:`~momentum.runtime.pipeline.HandlerChain` for one
handler method of an actor class: ``invoke`` (``bus.invoke``) runs it as a call on the
actor, ``dispatch`` and ``durable_inbound`` (queued and received messages) hand the
message to the actor's activation. What runs on the activation is :meth:`ActorChain.run`:
validators, middleware, then the method on the activation's actor instance with its
injected parameters. :class:`ReminderChain` delivers the durable reminders of every actor
class of the service.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from momentum.contracts.envelope import Envelope
from momentum.contracts.errors import HandlerConfigurationError, ValidationError
from momentum.contracts.result import Result, ValidationFailure
from momentum.contracts.tenancy import enter_handling, leave_handling
from momentum.runtime.actor_activation import current_activation
from momentum.runtime.actors import Reminder
from momentum.runtime.discovery import HandlerInfo, location_of
from momentum.runtime.injection import Injector, Kind, Scope
from momentum.runtime.middleware import Middleware, compose
from momentum.runtime.pipeline import (
    HandlerChain,
    Validator,
    _returns_result,
    annotate_failure,
    response_classes,
    uses_type,
)
from momentum.runtime.store import StoreTransaction
from momentum.runtime.tracking import Activity

if TYPE_CHECKING:
    from momentum.runtime.actor_runtime import ActorRuntime
    from momentum.runtime.actor_types import ActorType, KeyFunction
    from momentum.runtime.bus import MessageBus
    from momentum.runtime.core import BusRuntime

Run = Callable[[Envelope], Awaitable[Any]]

REMINDER_HANDLER = "momentum.actors.reminders"
"""Handler name of reminder deliveries (their inbox rows and durable local queue rows)."""


def _actor() -> Any:
    activation = current_activation()
    assert activation is not None, "an actor handler runs on its activation"
    return activation.actor


class ActorChain(HandlerChain):
    """One handler method of an actor class, compiled.

    Attributes:
        actor: The compiled actor class.
        key_of: The key of the actor a message goes to.
        classes: Response classes of the message type (``None``: unknown).
        run: ``await run(envelope)`` on the current activation -> the method's return value.
    """

    __slots__ = ("actor", "classes", "key_of", "run")

    def __init__(
        self,
        info: HandlerInfo,
        actor: ActorType,
        runtime: BusRuntime,
        actors: ActorRuntime,
        injector: Injector,
        validators: Sequence[Validator],
        middlewares: Sequence[Middleware],
    ) -> None:
        self.info = info
        self.name = info.name
        self.message_type = message_type = info.message_type
        self.actor = actor
        self.transactional = False
        func = info.func
        plans = injector.plan(func, skip=2)
        if uses_type(plans, StoreTransaction, injector.factory_plans):
            raise HandlerConfigurationError(
                f"{info.location}: an actor handler cannot take a StoreTransaction: momentum "
                "saves the actor's state with the message's inbox and outbox rows; keep the "
                "data in the state, or handle the message with a plain handler"
            )
        self.classes = response_classes(message_type)
        self.key_of: KeyFunction = actor.key_function(message_type, info.location)
        is_async = inspect.iscoroutinefunction(func)
        returns_result = _returns_result(func, message_type)
        scoped = bool(validators) or any(
            p.kind in (Kind.FACTORY, Kind.ENVELOPE, Kind.TENANT) for p in plans
        )
        factory_plans = injector.factory_plans
        from momentum.runtime.bus import MessageBus

        async def scoped_terminal(envelope: Envelope) -> Any:
            bus = MessageBus(runtime, envelope.message, envelope)
            scope = Scope(envelope, factory_plans, bus)
            try:
                if validators:
                    failures: list[ValidationFailure] = []
                    for validator in validators:
                        failures.extend(await validator.failures(envelope, scope))
                    if failures:
                        if returns_result:
                            return Result.fail(failures)
                        raise ValidationError(message_type, failures)
                args, kwargs = await scope.arguments(plans)
                ret = func(_actor(), envelope.message, *args, **kwargs)
                if is_async:
                    ret = await ret
            except BaseException as exc:
                await scope.close(exc)
                raise
            await scope.close()
            return ret

        # no scope: static values and the bus, positional or by keyword
        positional = [p for p in plans if not p.keyword_only]
        by_keyword = [p for p in plans if p.keyword_only]
        needs_bus = any(p.kind is Kind.BUS for p in plans)
        static_args = [p.value for p in positional]
        static_kwargs = {p.name: p.value for p in by_keyword}

        async def static_terminal(envelope: Envelope) -> Any:
            args, kwargs = static_args, static_kwargs
            if needs_bus:
                bus = MessageBus(runtime, envelope.message, envelope)
                args = [bus if p.kind is Kind.BUS else p.value for p in positional]
                kwargs = {p.name: bus if p.kind is Kind.BUS else p.value for p in by_keyword}
            ret = func(_actor(), envelope.message, *args, **kwargs)
            if is_async:
                ret = await ret
            return ret

        chain = compose(middlewares, scoped_terminal if scoped else static_terminal)
        name = self.name

        async def run(envelope: Envelope) -> Any:
            message = envelope.message
            tokens = enter_handling(envelope.tenant_id)  # on the activation's task
            try:
                ret = await chain(envelope)
            except Exception as exc:
                annotate_failure(exc, message, envelope.message_id, name)
                tracker = runtime.tracker
                if tracker is not None:
                    tracker.record(Activity("failed", message, envelope, name, exc))
                raise
            finally:
                leave_handling(tokens)
            tracker = runtime.tracker
            if tracker is not None:
                tracker.record(Activity("handled", message, envelope, name))
            return ret

        telemetry = runtime.telemetry
        if telemetry is not None:
            handle = run

            async def run(envelope: Envelope) -> Any:
                with telemetry.processing(envelope, name, "process"):
                    return await handle(envelope)

        self.run: Run = run

        async def dispatch(envelope: Envelope) -> None:
            await actors.dispatch(self, envelope)

        async def durable_inbound(envelope: Envelope) -> None:
            await actors.inbound(self, envelope)

        async def invoke(message: Any, caller: MessageBus) -> Any:
            return await actors.invoke(self, message, caller)

        self.dispatch = dispatch
        self.durable_inbound = durable_inbound
        self.invoke = invoke


async def deliver_reminders(reminder: Reminder) -> None:
    """Stands for the reminder deliveries of a service's actors (see :class:`ReminderChain`)."""


class ReminderChain(HandlerChain):
    """Delivers :class:`~momentum.runtime.actors.Reminder` messages to their actors.

    Attributes:
        classes: ``None``: reminders have no response.
        run: ``await run(envelope)`` on the reminder's activation -> ``on_reminder``'s return.
    """

    __slots__ = ("classes", "run")

    def __init__(self, runtime: BusRuntime, actors: ActorRuntime) -> None:
        self.info = HandlerInfo(
            Reminder, deliver_reminders, None, "handler", location_of(deliver_reminders)
        )
        self.name = REMINDER_HANDLER
        self.message_type = Reminder
        self.transactional = False
        self.classes = None

        async def run(envelope: Envelope) -> Any:
            message = envelope.message
            try:
                ret = await actors.fire(envelope)
            except Exception as exc:
                annotate_failure(exc, message, envelope.message_id, REMINDER_HANDLER)
                tracker = runtime.tracker
                if tracker is not None:
                    tracker.record(Activity("failed", message, envelope, REMINDER_HANDLER, exc))
                raise
            tracker = runtime.tracker
            if tracker is not None:
                tracker.record(Activity("handled", message, envelope, REMINDER_HANDLER))
            return ret

        self.run = run

        async def dispatch(envelope: Envelope) -> None:
            await actors.dispatch(self, envelope)

        async def durable_inbound(envelope: Envelope) -> None:
            await actors.inbound(self, envelope)

        async def invoke(message: Any, caller: MessageBus) -> Any:
            raise HandlerConfigurationError("reminders are delivered by momentum, not invoked")

        self.dispatch = dispatch
        self.durable_inbound = durable_inbound
        self.invoke = invoke

    @staticmethod
    def key_of(message: Any) -> str:
        """The key of the reminded actor."""
        key: str = message.key
        return key
