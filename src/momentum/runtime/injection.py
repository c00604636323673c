"""Dependency injection by annotation, planned once per handler.

Services are registered by type, as an instance (shared) or a factory (called once per
message; generator factories run the code after ``yield`` as cleanup when the message is
done). A handler's parameters are resolved at start-up into a plan: static values are bound
once, per-message values (envelope, tenant, factory services) are produced by a scope.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any, get_type_hints

from momentum.contracts.envelope import Envelope
from momentum.contracts.errors import ConfigurationError, HandlerConfigurationError
from momentum.contracts.tenancy import TenantContext
from momentum.runtime.discovery import location_of

MISSING: Any = object()
"""Sentinel: no instance given to ``register`` (``None`` is a valid instance)."""


class Lifetime(Enum):
    """How long a registered service lives."""

    SINGLETON = "singleton"
    PER_MESSAGE = "per-message"


@dataclass(frozen=True, slots=True)
class Registration:
    """A service registered by type.

    Attributes:
        service_type: The type handlers annotate to receive it.
        lifetime: ``SINGLETON`` for an instance, ``PER_MESSAGE`` for a factory.
        instance: The shared instance (singletons).
        factory: The factory (per-message services); may be a (async) generator function.
    """

    service_type: type
    lifetime: Lifetime
    instance: Any = None
    factory: Callable[..., Any] | None = None


class ServiceRegistry:
    """Services available for injection, keyed by type."""

    def __init__(self) -> None:
        self._registrations: dict[type, Registration] = {}

    def register(
        self,
        service_type: type,
        instance: Any = MISSING,
        *,
        factory: Callable[..., Any] | None = None,
    ) -> None:
        """Register ``instance`` (shared) or ``factory`` (per message) for ``service_type``."""
        if (instance is MISSING) == (factory is None):
            raise ConfigurationError(
                f"register({service_type.__qualname__}, ...) needs exactly one of an instance "
                "or factory=..."
            )
        if factory is not None:
            if not callable(factory):
                raise ConfigurationError(f"factory for {service_type.__qualname__} is not callable")
            reg = Registration(service_type, Lifetime.PER_MESSAGE, factory=factory)
        else:
            reg = Registration(service_type, Lifetime.SINGLETON, instance=instance)
        self._registrations[service_type] = reg

    def get(self, service_type: Any) -> Registration | None:
        """The registration for ``service_type``, if any."""
        try:
            return self._registrations.get(service_type)
        except TypeError:  # unhashable annotation
            return None

    def __iter__(self) -> Any:
        return iter(self._registrations.values())


class Kind(Enum):
    """Where a parameter's value comes from."""

    STATIC = "static"
    BUS = "bus"
    ENVELOPE = "envelope"
    TENANT = "tenant"
    FACTORY = "factory"


@dataclass(frozen=True, slots=True)
class ParameterPlan:
    """How to produce one parameter's value.

    Attributes:
        name: Parameter name.
        kind: Where the value comes from.
        keyword_only: Whether it must be passed by keyword.
        value: The value, for ``STATIC``.
        registration: The factory registration, for ``FACTORY``.
    """

    name: str
    kind: Kind
    keyword_only: bool
    value: Any = None
    registration: Registration | None = None


class Scope:
    """Per-message state: the envelope and the factory services created for it."""

    __slots__ = ("_instances", "_stack", "bus", "envelope", "registry_plans")

    def __init__(
        self,
        envelope: Envelope,
        registry_plans: Mapping[type, list[ParameterPlan]],
        bus: Any = None,
    ) -> None:
        self.envelope = envelope
        self.registry_plans = registry_plans
        self.bus = bus
        self._instances: dict[type, Any] = {}
        self._stack: AsyncExitStack | None = None

    async def value(self, plan: ParameterPlan) -> Any:
        """The value for one planned parameter in this message's scope."""
        kind = plan.kind
        if kind is Kind.STATIC:
            return plan.value
        if kind is Kind.ENVELOPE:
            return self.envelope
        if kind is Kind.TENANT:
            return TenantContext(self.envelope.tenant_id)
        if kind is Kind.BUS:
            return self.bus
        reg = plan.registration
        assert reg is not None and reg.factory is not None
        try:
            return self._instances[reg.service_type]
        except KeyError:
            pass
        args, kwargs = await self.arguments(self.registry_plans[reg.service_type])
        instance = await self._create(reg.factory, args, kwargs)
        self._instances[reg.service_type] = instance
        return instance

    async def arguments(self, plans: list[ParameterPlan]) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for a list of planned parameters."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for plan in plans:
            value = await self.value(plan)
            if plan.keyword_only:
                kwargs[plan.name] = value
            else:
                args.append(value)
        return args, kwargs

    async def _create(
        self, factory: Callable[..., Any], args: list[Any], kw: dict[str, Any]
    ) -> Any:
        if inspect.isasyncgenfunction(factory):
            return await self._exit_stack().enter_async_context(
                asynccontextmanager(factory)(*args, **kw)
            )
        if inspect.isgeneratorfunction(factory):
            return self._exit_stack().enter_context(contextmanager(factory)(*args, **kw))
        result = factory(*args, **kw)
        if inspect.isawaitable(result):
            result = await result
        return result

    def _exit_stack(self) -> AsyncExitStack:
        if self._stack is None:
            self._stack = AsyncExitStack()
        return self._stack

    async def close(self, exc: BaseException | None = None) -> None:
        """Run factory cleanups, last created first."""
        stack, self._stack = self._stack, None
        if stack is not None:
            if exc is None:
                await stack.aclose()
            else:
                await stack.__aexit__(type(exc), exc, exc.__traceback__)


class Injector:
    """Plans the parameters of handlers, validators and factories against a registry."""

    def __init__(
        self, registry: ServiceRegistry, statics: Mapping[type, Any], bus_type: type | None = None
    ) -> None:
        self._registry = registry
        self._statics = dict(statics)
        self._bus_type = bus_type
        self.factory_plans: dict[type, list[ParameterPlan]] = {}

    def plan(
        self, func: Callable[..., Any], *, skip: int, owner_location: str | None = None
    ) -> list[ParameterPlan]:
        """Plan every parameter of ``func`` after the first ``skip`` (self, message)."""
        where = owner_location or location_of(func)
        try:
            hints = get_type_hints(func)
        except Exception as exc:
            raise HandlerConfigurationError(
                f"{where}: cannot resolve the annotations ({type(exc).__name__}: {exc})"
            ) from exc
        params = list(inspect.signature(func).parameters.values())[skip:]
        plans = []
        for param in params:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            plans.append(self._plan_one(param, hints.get(param.name), where, func, set()))
        return [p for p in plans if p is not None]

    def _plan_one(
        self,
        param: inspect.Parameter,
        annotation: Any,
        where: str,
        func: Callable[..., Any],
        resolving: set[type],
    ) -> ParameterPlan | None:
        keyword_only = param.kind is param.KEYWORD_ONLY
        name = param.name
        if annotation is Envelope:
            return ParameterPlan(name, Kind.ENVELOPE, keyword_only)
        if annotation is not None and annotation is self._bus_type:
            return ParameterPlan(name, Kind.BUS, keyword_only)
        if annotation is TenantContext:
            return ParameterPlan(name, Kind.TENANT, keyword_only)
        if annotation is logging.Logger:
            logger = logging.getLogger(getattr(func, "__module__", None) or "momentum")
            return ParameterPlan(name, Kind.STATIC, keyword_only, value=logger)
        static = self._statics.get(annotation, MISSING) if _hashable(annotation) else MISSING
        if static is not MISSING:
            return ParameterPlan(name, Kind.STATIC, keyword_only, value=static)
        reg = self._registry.get(annotation)
        if reg is not None and reg.lifetime is Lifetime.SINGLETON:
            return ParameterPlan(name, Kind.STATIC, keyword_only, value=reg.instance)
        if reg is not None:
            self._plan_factory(reg, resolving)
            return ParameterPlan(name, Kind.FACTORY, keyword_only, registration=reg)
        if param.default is not param.empty:
            return None  # not injectable: the default applies
        shown = getattr(annotation, "__qualname__", repr(annotation))
        raise HandlerConfigurationError(
            f"{where}: cannot inject parameter {name!r} of type {shown}; register it with "
            f"service.register({shown}, instance) or service.register({shown}, factory=...), "
            "or give the parameter a default"
        )

    def _plan_factory(self, reg: Registration, resolving: set[type]) -> None:
        if reg.service_type in self.factory_plans:
            return
        if reg.service_type in resolving:
            raise HandlerConfigurationError(
                f"factory for {reg.service_type.__qualname__} depends on itself"
            )
        assert reg.factory is not None
        where = location_of(reg.factory)
        resolving = resolving | {reg.service_type}
        try:
            hints = get_type_hints(reg.factory)
        except Exception as exc:
            raise HandlerConfigurationError(
                f"{where}: cannot resolve the factory's annotations ({exc})"
            ) from exc
        plans = []
        for param in inspect.signature(reg.factory).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            plan = self._plan_one(param, hints.get(param.name), where, reg.factory, resolving)
            if plan is not None:
                plans.append(plan)
        self.factory_plans[reg.service_type] = plans


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
