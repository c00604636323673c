"""Marker base classes that type the response of ``bus.invoke``; what counts as a message."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, get_args, get_origin

from momentum.contracts.errors import InvalidMessageError

R = TypeVar("R")


class Command(Generic[R]):
    """A request to change state, handled by exactly one handler, answering ``R``.

    Subclass it as a frozen dataclass or frozen pydantic model::

        @dataclass(frozen=True)
        class CreateCashier(Command[Result[Cashier]]):
            name: str
    """

    __slots__ = ()


class Query(Generic[R]):
    """A request to read state, handled by exactly one handler, answering ``R``."""

    __slots__ = ()


def response_type(message_type: type) -> Any | None:
    """The ``R`` of a ``Command[R]`` or ``Query[R]`` subclass, or ``None`` when unknown."""
    for klass in message_type.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            origin = get_origin(base)
            if origin in (Command, Query):
                args = get_args(base)
                if args and not isinstance(args[0], TypeVar):
                    return args[0]
    return None


_WHAT_A_MESSAGE_IS = (
    "A message is an instance of one of your classes that the bus can route: an event (a "
    "frozen dataclass or pydantic model; with @event_topic an integration event) or a "
    "Command/Query subclass with its handler."
)


def not_a_message(message: object, operation: str) -> InvalidMessageError | None:
    """The error for ``message`` when it cannot be a message at all, else ``None``.

    ``None``, instances of built-in types (``dict``, ``str``, ``object()``, a coroutine) and
    classes (``OrderPlaced`` instead of ``OrderPlaced(...)``) are not messages. ``operation``
    (``publish``, ``send``...) is the verb of the error text. The value itself is not shown:
    it may hold anything.
    """
    cls = type(message)
    if cls.__module__ != "builtins":
        return None
    if message is None:
        got = "None"
    elif isinstance(message, type):
        name = message.__qualname__
        got = f"the class {name} (an instance is: {name}(...))"
    elif cls.__name__ == "coroutine":
        got = "a coroutine (is an await missing?)"
    else:
        got = f"a {cls.__name__}"
    return InvalidMessageError(
        f"Cannot {operation} {got}: it is not a message. {_WHAT_A_MESSAGE_IS}"
    )
