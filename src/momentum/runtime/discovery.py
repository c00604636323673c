"""Find handlers and validators in a service's packages, and explain every decision.

A handler is a function named ``handle``/``consume`` (``_async`` suffixes allowed), or such a
method of a class named ``*Handler``/``*Consumer``, or any function marked with
:func:`handler`, whose first parameter is annotated with the message class. A validator is a
function named ``validate`` (or ``validate_async``), or the ``validate`` method of a class
named ``*Validator``, whose first parameter is annotated with the message class. Actor
classes (subclasses of :class:`~momentum.runtime.actors.Actor`) are collected too; their
methods named or marked so are the actors' handlers, kept apart from plain handlers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, TypeVar, get_type_hints, overload

from momentum.contracts.errors import HandlerConfigurationError
from momentum.contracts.modules import import_modules
from momentum.runtime.actors import is_actor_class

HANDLER_NAMES = frozenset({"handle", "consume", "handle_async", "consume_async"})
VALIDATOR_NAMES = frozenset({"validate", "validate_async"})
HANDLER_CLASS_SUFFIXES = ("Handler", "Consumer")
VALIDATOR_CLASS_SUFFIX = "Validator"
_MARK = "__momentum_handler__"

F = TypeVar("F", bound=Callable[..., Any])


@overload
def handler(func: F, /) -> F: ...
@overload
def handler() -> Callable[[F], F]: ...
def handler(func: F | None = None, /) -> F | Callable[[F], F]:
    """Mark a function of any name as a handler of its first parameter's message type.

    Usable bare (``@handler``) or called (``@handler()``). The function is still only
    picked up from the service's packages, or via ``Service.add_handler``.
    """

    def mark(f: F) -> F:
        setattr(f, _MARK, True)
        return f

    return mark(func) if func is not None else mark


Role = Literal["handler", "validator"]


@dataclass(frozen=True, slots=True)
class HandlerInfo:
    """A discovered handler or validator.

    Attributes:
        message_type: The class of message it handles (its first parameter's annotation).
        func: The function, or the unbound method for a handler class.
        owner: The ``*Handler``/``*Consumer``/``*Validator`` class, if it is a method.
        role: ``"handler"`` or ``"validator"``.
        location: ``module.qualname (file:line)``, for messages that point at the code.
    """

    message_type: type
    func: Callable[..., Any]
    owner: type | None
    role: Role
    location: str

    @property
    def name(self) -> str:
        """Dotted name of the function, e.g. ``app.cashiers.commands.handle``."""
        return f"{self.func.__module__}.{self.func.__qualname__}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A function that was considered, with whether it was taken and why.

    Attributes:
        name: Dotted name of the function.
        location: Source file and line.
        accepted: Whether it was registered.
        reason: Why it was (or was not) registered.
        role: What it was considered as.
    """

    name: str
    location: str
    accepted: bool
    reason: str
    role: Role


def location_of(func: Callable[..., Any]) -> str:
    """``module.qualname (file:line)`` for a function, tolerant of builtins and partials."""
    target = inspect.unwrap(func)
    try:
        file = inspect.getsourcefile(target) or "?"
        line = inspect.getsourcelines(target)[1]
    except (OSError, TypeError):
        file, line = "?", 0
    return (
        f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', target)} "
        f"({file}:{line})"
    )


def message_type_of(func: Callable[..., Any], *, owner: type | None = None) -> type:
    """The class annotated on the first (non-self) parameter of ``func``.

    Raises :class:`HandlerConfigurationError` naming the function when the annotation is
    missing, cannot be resolved, or is not a class.
    """
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError) as exc:
        raise HandlerConfigurationError(f"{location_of(func)}: no signature ({exc})") from exc
    if owner is not None and params and not _is_static(owner, func):
        params = params[1:]
    if not params:
        raise HandlerConfigurationError(
            f"{location_of(func)}: a handler needs the message as its first parameter"
        )
    first = params[0]
    try:
        hints = get_type_hints(func)
    except Exception as exc:
        raise HandlerConfigurationError(
            f"{location_of(func)}: cannot resolve the annotations ({type(exc).__name__}: {exc}); "
            "import the names it uses at module level"
        ) from exc
    annotation = hints.get(first.name)
    if annotation is None:
        raise HandlerConfigurationError(
            f"{location_of(func)}: annotate the first parameter {first.name!r} with the "
            "message class it handles"
        )
    if not isinstance(annotation, type):
        raise HandlerConfigurationError(
            f"{location_of(func)}: the first parameter is annotated {annotation!r}, which is "
            "not a class; a handler takes one message class (write one handler per type)"
        )
    return annotation


def _is_static(owner: type, func: Callable[..., Any]) -> bool:
    raw = inspect.getattr_static(owner, func.__name__, None)
    return isinstance(raw, staticmethod)


def _defined_here(obj: Any, module: ModuleType) -> bool:
    return getattr(obj, "__module__", None) == module.__name__


def _scan_module(module: ModuleType) -> Iterable[tuple[Callable[..., Any], type | None, str]]:
    """Yield (function, owner class, local name) for every function defined in ``module``."""
    for name, obj in sorted(vars(module).items()):
        if inspect.isfunction(obj) and _defined_here(obj, module):
            yield obj, None, name
        elif inspect.isclass(obj) and _defined_here(obj, module):
            yield from _scan_class(obj)


def _consider(
    func: Callable[..., Any], owner: type | None, name: str
) -> tuple[Candidate | None, HandlerInfo | None]:
    marked = getattr(func, _MARK, False)
    role: Role
    if owner is None:
        if name in HANDLER_NAMES or marked:
            role = "handler"
        elif name in VALIDATOR_NAMES:
            role = "validator"
        else:
            return None, None
    elif is_actor_class(owner):
        if name not in HANDLER_NAMES and not marked:
            return None, None
        role = "handler"
    else:
        if owner.__name__.endswith(HANDLER_CLASS_SUFFIXES) and (name in HANDLER_NAMES or marked):
            role = "handler"
        elif owner.__name__.endswith(VALIDATOR_CLASS_SUFFIX) and name in VALIDATOR_NAMES:
            role = "validator"
        elif name in HANDLER_NAMES:
            loc = location_of(func)
            why = (
                f"method {name!r} of class {owner.__name__!r}: only classes named "
                f"*Handler or *Consumer contribute handlers"
            )
            return Candidate(
                f"{func.__module__}.{func.__qualname__}", loc, False, why, "handler"
            ), None
        else:
            return None, None
    location = location_of(func)
    dotted = f"{func.__module__}.{func.__qualname__}"
    message_type = message_type_of(func, owner=owner)
    why = "marked with @handler" if marked else f"named {name!r}"
    if owner is not None:
        why += f" in {'actor' if is_actor_class(owner) else 'class'} {owner.__name__}"
    info = HandlerInfo(message_type, func, owner, role, location)
    reason = f"{role} of {message_type.__qualname__}: {why}"
    return Candidate(dotted, location, True, reason, role), info


@dataclass(frozen=True, slots=True)
class Discovery:
    """Everything found in a set of packages.

    Attributes:
        handlers: Handlers, in a stable order (module name, then source order by name).
        validators: Validators, likewise.
        candidates: Every function considered, with the decision and its reason.
        packages: The packages that were scanned.
        actors: Actor classes (subclasses of ``Actor``), in the same order.
        actor_handlers: The handler methods of those actor classes.
    """

    handlers: tuple[HandlerInfo, ...]
    validators: tuple[HandlerInfo, ...]
    candidates: tuple[Candidate, ...]
    packages: tuple[str, ...]
    actors: tuple[type, ...] = ()
    actor_handlers: tuple[HandlerInfo, ...] = ()


def _scan_class(cls: type) -> Iterable[tuple[Callable[..., Any], type | None, str]]:
    """Yield (function, ``cls``, local name) for every function defined in ``cls``."""
    for attr, raw in sorted(vars(cls).items()):
        func = raw.__func__ if isinstance(raw, staticmethod | classmethod) else raw
        if inspect.isfunction(func):
            yield func, cls, attr


def discover(
    packages: Sequence[str],
    extra: Iterable[Callable[..., Any]] = (),
    extra_actors: Iterable[type] = (),
) -> Discovery:
    """Scan ``packages`` for handlers, validators and actors.

    Functions in ``extra`` (``Service.add_handler``) and actor classes in ``extra_actors``
    (``Service.add_actor``) are taken as if they were found there.
    """
    handlers: list[HandlerInfo] = []
    validators: list[HandlerInfo] = []
    candidates: list[Candidate] = []
    actors: list[type] = []
    actor_handlers: list[HandlerInfo] = []
    seen: set[Callable[..., Any]] = set()

    def take(functions: Iterable[tuple[Callable[..., Any], type | None, str]]) -> None:
        for func, owner, name in functions:
            if func in seen:
                continue
            seen.add(func)
            candidate, info = _consider(func, owner, name)
            if candidate is not None:
                candidates.append(candidate)
            if info is None:
                continue
            if owner is not None and is_actor_class(owner):
                actor_handlers.append(info)
            else:
                (handlers if info.role == "handler" else validators).append(info)

    for module in import_modules(packages):
        for obj in vars(module).values():
            if is_actor_class(obj) and _defined_here(obj, module) and obj not in actors:
                actors.append(obj)
        take(_scan_module(module))
    for cls in extra_actors:
        if not is_actor_class(cls):
            raise HandlerConfigurationError(
                f"{cls!r} is not an actor class (a subclass of momentum.Actor)"
            )
        if cls not in actors:
            actors.append(cls)
            take(_scan_class(cls))
    for func in extra:
        if func in seen:
            continue
        seen.add(func)
        info = HandlerInfo(message_type_of(func), func, None, "handler", location_of(func))
        handlers.append(info)
        candidates.append(
            Candidate(
                info.name,
                info.location,
                True,
                f"handler of {info.message_type.__qualname__}: added with Service.add_handler",
                "handler",
            )
        )
    return Discovery(
        tuple(handlers),
        tuple(validators),
        tuple(candidates),
        tuple(packages),
        tuple(actors),
        tuple(actor_handlers),
    )


def discover_handlers(packages: Sequence[str]) -> list[HandlerInfo]:
    """The handlers in ``packages``, actors' handler methods included (validators excluded)."""
    found = discover(packages)
    return [*found.handlers, *found.actor_handlers]
