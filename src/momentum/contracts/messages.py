"""Marker base classes that type the response of ``bus.invoke``."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, get_args, get_origin

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
