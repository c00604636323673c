"""Compile each handler, once at start-up, into the code that runs per message.

Everything that can be decided from signatures is decided here: which parameters are static
(bound once), which come from the message's scope, whether validators or middleware apply,
how the return value splits into a response and cascaded messages. An ``invoke`` of a handler
with only static parameters and no middleware runs a generated call with no envelope, no
scope and no message id (one is generated only if the handler raises).
"""

from __future__ import annotations

import contextlib
import inspect
import types
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin, get_type_hints

from momentum.contracts.envelope import Envelope
from momentum.contracts.errors import HandlerConfigurationError, ValidationError
from momentum.contracts.messages import response_type
from momentum.contracts.partitioning import field_names
from momentum.contracts.result import Result, ValidationFailure
from momentum.contracts.tenancy import (
    enter_handling,
    handling_tenant,
    leave_handling,
    message_tenant,
    tenant_field,
)
from momentum.runtime.discovery import HandlerInfo
from momentum.runtime.injection import Injector, Kind, ParameterPlan, Scope
from momentum.runtime.middleware import Middleware, compose
from momentum.runtime.store import StoreTransaction
from momentum.runtime.telemetry import Telemetry
from momentum.runtime.tracking import Activity

if TYPE_CHECKING:
    from momentum.runtime.bus import MessageBus
    from momentum.runtime.core import BusRuntime

Invoker = Callable[[Any, "MessageBus"], Awaitable[Any]]
Dispatcher = Callable[[Envelope], Awaitable[None]]


def response_classes(message_type: type) -> tuple[type, ...] | None:
    """Classes an ``invoke`` response of ``message_type`` is an instance of (None: unknown)."""
    declared = response_type(message_type)
    if declared is None:
        return None
    origin = get_origin(declared)
    if origin is Union or origin is types.UnionType:
        classes = tuple(get_origin(a) or a for a in get_args(declared))
        return tuple(c for c in classes if isinstance(c, type)) or None
    target = origin or declared
    return (target,) if isinstance(target, type) and target is not Any else None


def split_response(ret: Any, classes: tuple[type, ...] | None) -> tuple[Any, list[Any]]:
    """Split a handler's return value into (response, messages to cascade)."""
    if ret is None:
        return None, []
    if classes is not None and isinstance(ret, classes):
        return ret, []
    if isinstance(ret, tuple | list):
        response: Any = None
        found = False
        cascades = []
        for item in ret:
            if item is None:
                continue
            if not found and (classes is None or isinstance(item, classes)):
                response, found = item, True
            else:
                cascades.append(item)
        return response, cascades
    if classes is None:
        return ret, []
    return None, [ret]


def cascades_of(ret: Any, classes: tuple[type, ...] | None) -> list[Any]:
    """Messages to cascade from a handler run without a caller waiting for a response."""
    if ret is None:
        return []
    if classes is not None and isinstance(ret, classes):
        return []
    items = ret if isinstance(ret, tuple | list) else (ret,)
    return [
        item
        for item in items
        if item is not None
        and not isinstance(item, Result)
        and not (classes is not None and isinstance(item, classes))
    ]


def annotate_failure(exc: BaseException, message: Any, message_id: uuid.UUID, name: str) -> None:
    """Attach the message id (attribute and note) to an exception raised by a handler."""
    if getattr(exc, "momentum_message_id", None) is None:
        with contextlib.suppress(AttributeError):
            exc.momentum_message_id = message_id  # type: ignore[attr-defined]
    exc.add_note(
        f"momentum: raised by {name} handling {type(message).__qualname__} message {message_id}"
    )


def _returns_result(func: Callable[..., Any], message_type: type) -> bool:
    declared = response_type(message_type)
    if declared is not None:
        return (get_origin(declared) or declared) is Result
    try:
        ret = get_type_hints(func).get("return")
    except Exception:
        return False
    if get_origin(ret) is tuple and get_args(ret):
        ret = get_args(ret)[0]
    return (get_origin(ret) or ret) is Result


def _instantiate(owner: type, injector: Injector, root_bus: MessageBus) -> Any:
    init: Callable[..., Any] = owner.__init__  # type: ignore[misc]
    plans = injector.plan(init, skip=1) if init is not object.__init__ else []
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for plan in plans:
        if plan.kind is Kind.STATIC:
            value = plan.value
        elif plan.kind is Kind.BUS:
            value = root_bus
        else:
            raise HandlerConfigurationError(
                f"{owner.__module__}.{owner.__qualname__}: constructor parameter {plan.name!r} is "
                f"{plan.kind.value}-scoped; take it as a parameter of the handler method instead"
            )
        if plan.keyword_only:
            kwargs[plan.name] = value
        else:
            args.append(value)
    return owner(*args, **kwargs)


def bind(info: HandlerInfo, injector: Injector, root_bus: MessageBus) -> Callable[..., Any]:
    """The callable to run for ``info``: the function, or the method of a shared instance."""
    if info.owner is None:
        return info.func
    instance = _instantiate(info.owner, injector, root_bus)
    bound: Callable[..., Any] = getattr(instance, info.func.__name__)
    return bound


def generate_call(func: Callable[..., Any], plans: Sequence[ParameterPlan]) -> Callable[..., Any]:
    """A generated ``call(message, bus)`` passing static values and the bus, no extra frame."""
    namespace: dict[str, Any] = {"_func": func}
    args = ["message"]
    for i, plan in enumerate(plans):
        if plan.kind is Kind.STATIC:
            namespace[f"_s{i}"] = plan.value
            expr = f"_s{i}"
        elif plan.kind is Kind.BUS:
            expr = "bus"
        else:
            raise AssertionError(f"not a static plan: {plan}")
        args.append(f"{plan.name}={expr}" if plan.keyword_only else expr)
    source = f"def call(message, bus):\n    return _func({', '.join(args)})\n"
    exec(compile(source, f"<momentum call {func.__qualname__}>", "exec"), namespace)
    call: Callable[..., Any] = namespace["call"]
    return call


class Validator:
    """A compiled validator: its callable and parameter plan."""

    def __init__(self, func: Callable[..., Any], plans: list[ParameterPlan], name: str) -> None:
        self.func = func
        self.plans = plans
        self.name = name
        self.is_async = inspect.iscoroutinefunction(func)

    async def failures(self, envelope: Envelope, scope: Scope) -> list[ValidationFailure]:
        """Run the validator and normalise what it returns to a list of failures."""
        args, kwargs = await scope.arguments(self.plans)
        found = self.func(envelope.message, *args, **kwargs)
        if self.is_async:
            found = await found
        if found is None:
            return []
        if isinstance(found, ValidationFailure):
            return [found]
        items = list(found)
        for item in items:
            if not isinstance(item, ValidationFailure):
                raise HandlerConfigurationError(
                    f"validator {self.name} returned {item!r}; return ValidationFailure objects"
                )
        return items


class HandlerChain:
    """One handler, compiled: what ``invoke`` and queued delivery run for a message.

    Attributes:
        info: The discovered handler.
        name: Dotted name of the handler function.
        message_type: The message class it handles.
        invoke: ``await invoke(message, caller_bus)`` -> the response.
        dispatch: ``await dispatch(envelope)`` -> None (cascades published).
        transactional: Whether the handler (or a factory it uses) takes the
            ``StoreTransaction``: it then always runs in a store transaction, and what it
            publishes goes to the outbox of that transaction.
        durable_inbound: How an inbound message is handled with a message store when the
            chain does it itself (an actor's handler: its state is saved with the inbox
            row); ``None`` for plain handlers.
    """

    __slots__ = (
        "dispatch",
        "durable_inbound",
        "info",
        "invoke",
        "message_type",
        "name",
        "transactional",
    )

    def __init__(
        self,
        info: HandlerInfo,
        runtime: BusRuntime,
        injector: Injector,
        validators: Sequence[Validator],
        middlewares: Sequence[Middleware],
    ) -> None:
        self.info = info
        self.name = info.name
        self.message_type = info.message_type
        self.durable_inbound: Dispatcher | None = None
        tenant_named = _names_tenant(info.message_type)  # a bad TenantKey fails the start
        func = bind(info, injector, runtime.root_bus)
        plans = injector.plan(func, skip=1)
        classes = response_classes(info.message_type)
        is_async = inspect.iscoroutinefunction(func)
        returns_result = _returns_result(func, info.message_type)
        needs_scope = bool(validators) or any(
            p.kind in (Kind.FACTORY, Kind.ENVELOPE, Kind.TENANT) for p in plans
        )
        needs_bus = any(p.kind is Kind.BUS for p in plans)
        factory_plans = injector.factory_plans
        name = self.name
        message_type = info.message_type
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
                ret = func(envelope.message, *args, **kwargs)
                if is_async:
                    ret = await ret
            except BaseException as exc:
                await scope.close(exc)
                raise
            await scope.close()
            return ret

        call = None if needs_scope else generate_call(func, plans)

        async def static_terminal(envelope: Envelope) -> Any:
            message = envelope.message
            bus = MessageBus(runtime, message, envelope) if needs_bus else None
            ret = call(message, bus)  # type: ignore[misc]
            if is_async:
                ret = await ret
            return ret

        def direct_terminal(envelope: Envelope) -> Awaitable[Any]:
            # an async handler with static parameters only: its coroutine is awaited by the
            # caller, no frame of our own around it
            return call(envelope.message, None)  # type: ignore[misc, no-any-return]

        terminal: Callable[[Envelope], Awaitable[Any]]
        if needs_scope:
            terminal = scoped_terminal
        elif is_async and not needs_bus:
            terminal = direct_terminal
        else:
            terminal = static_terminal
        chain = compose(middlewares, terminal)

        async def run_chain(envelope: Envelope) -> Any:
            """The chain on ``envelope``: failures annotated, outcomes recorded when tracked."""
            message = envelope.message
            try:
                ret = await chain(envelope)
            except Exception as exc:
                annotate_failure(exc, message, envelope.message_id, name)
                tracker = runtime.tracker
                if tracker is not None:
                    tracker.record(Activity("failed", message, envelope, name, exc))
                raise
            tracker = runtime.tracker
            if tracker is not None:
                tracker.record(Activity("handled", message, envelope, name))
            return ret

        async def invoke_envelope(envelope: Envelope) -> Any:
            message = envelope.message
            tracker = runtime.tracker
            if tracker is not None:
                tracker.record(Activity("invoked", message, envelope))
            tenant = envelope.tenant_id  # current_tenant() in the handler
            token = (
                handling_tenant.set(tenant)
                if tenant is not None and tenant != handling_tenant.get()
                else None
            )
            try:
                ret = await run_chain(envelope)
                response, cascades = split_response(ret, classes)
                if cascades:
                    await runtime.cascade(MessageBus(runtime, message, envelope), cascades)
            finally:
                if token is not None:
                    handling_tenant.reset(token)
            return response

        def invoke_enveloped(message: Any, caller: MessageBus) -> Awaitable[Any]:
            return invoke_envelope(caller.envelope_for(message))

        async def dispatch(envelope: Envelope) -> None:
            # run_chain inlined: this runs for every queued and every inbound message
            message = envelope.message
            tokens = enter_handling(envelope.tenant_id)  # current_tenant() in the handler
            try:
                try:
                    ret = await chain(envelope)
                except Exception as exc:
                    annotate_failure(exc, message, envelope.message_id, name)
                    tracker = runtime.tracker
                    if tracker is not None:
                        tracker.record(Activity("failed", message, envelope, name, exc))
                    raise
                tracker = runtime.tracker
                if tracker is not None:
                    tracker.record(Activity("handled", message, envelope, name))
                if ret is None:
                    return
                cascades = cascades_of(ret, classes)
                if cascades:
                    await runtime.cascade(MessageBus(runtime, message, envelope), cascades)
            finally:
                leave_handling(tokens)

        telemetry = runtime.telemetry
        run: Dispatcher = dispatch
        invoker: Invoker = invoke_enveloped
        if telemetry is not None:
            run, invoker = _observed(telemetry, name, dispatch, invoke_envelope)
        self.dispatch: Dispatcher = run
        self.transactional = uses_type(plans, StoreTransaction, injector.factory_plans)
        if self.transactional:
            self._in_transactions(runtime, invoker, run)
            return
        if call is None or middlewares or telemetry is not None or runtime.tenant_isolation:
            self.invoke: Invoker = invoker
            return

        async def invoke_direct(message: Any, caller: MessageBus) -> Any:
            if runtime.tracker is not None:
                return await invoker(message, caller)
            token = None
            if tenant_named:  # current_tenant() in the handler
                tenant = message_tenant(message)
                if tenant is not None and tenant != handling_tenant.get():
                    token = handling_tenant.set(tenant)
            try:
                bus = MessageBus(runtime, message, None, caller) if needs_bus else None
                try:
                    ret = call(message, bus)
                    if is_async:
                        ret = await ret
                except Exception as exc:
                    annotate_failure(exc, message, uuid.uuid4(), name)
                    raise
                if ret is None or (classes is not None and isinstance(ret, classes)):
                    return ret
                response, cascades = split_response(ret, classes)
                if cascades:
                    await runtime.cascade(
                        bus or MessageBus(runtime, message, None, caller), cascades
                    )
                return response
            finally:
                if token is not None:
                    handling_tenant.reset(token)

        self.invoke = invoke_direct

    def _in_transactions(self, runtime: BusRuntime, invoke: Invoker, dispatch: Dispatcher) -> None:
        durability = runtime.durability
        if durability is None:
            raise HandlerConfigurationError(
                f"{self.info.location}: {self.name} takes a StoreTransaction, but the service "
                "has no message store (set MOMENTUM_DATABASE_URL; memory:// has none)"
            )

        async def invoke_in_transaction(message: Any, caller: MessageBus) -> Any:
            async with durability.session():
                return await invoke(message, caller)

        async def dispatch_in_transaction(envelope: Envelope) -> None:
            async with durability.session():
                await dispatch(envelope)

        self.invoke = invoke_in_transaction
        self.dispatch = dispatch_in_transaction


def _names_tenant(message_type: type) -> bool:
    """Whether messages of ``message_type`` have a tenant field (see ``tenant_field``)."""
    name = tenant_field(message_type)
    return name is not None and (name in field_names(message_type) or hasattr(message_type, name))


def _observed(
    telemetry: Telemetry,
    name: str,
    dispatch: Dispatcher,
    invoke_envelope: Callable[[Envelope], Awaitable[Any]],
) -> tuple[Dispatcher, Invoker]:
    """``dispatch`` and ``invoke`` reported to ``telemetry`` (cascades included)."""

    async def observed_dispatch(envelope: Envelope) -> None:
        with telemetry.processing(envelope, name, "process"):
            await dispatch(envelope)

    async def observed_invoke(message: Any, caller: MessageBus) -> Any:
        envelope = caller.envelope_for(message)
        with telemetry.processing(envelope, name, "invoke"):
            return await invoke_envelope(envelope)

    return observed_dispatch, observed_invoke


def uses_type(
    plans: Sequence[ParameterPlan],
    target: type,
    factory_plans: dict[type, list[ParameterPlan]],
    seen: frozenset[type] = frozenset(),
) -> bool:
    """Whether ``plans`` inject ``target``, directly or through the factories they use."""
    for plan in plans:
        reg = plan.registration
        if plan.kind is not Kind.FACTORY or reg is None:
            continue
        if reg.service_type is target:
            return True
        if reg.service_type not in seen and uses_type(
            factory_plans.get(reg.service_type, []),
            target,
            factory_plans,
            seen | {reg.service_type},
        ):
            return True
    return False
