"""Wire type names (CloudEvents ``type``, header ``ce_type``) and the registry resolving them.

A class's type name is its fully qualified Python name, unless the class itself sets
``__message_type__ = "AppDomain.Cashiers.CashierCreated"`` to match the name another
language's service writes. The attribute is not inherited: a subclass is another message.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from momentum.contracts.errors import (
    ContractError,
    DuplicateMessageTypeError,
    UnknownMessageTypeError,
)

_ATTRIBUTE = "__message_type__"


def _python_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


_NAMES: dict[type, str] = {}


def message_type_name(cls: type) -> str:
    """``cls.__message_type__`` if the class itself defines it, else ``module.qualname``.

    Cached per class. Raises :class:`ContractError` when ``__message_type__`` is not a
    non-empty string.
    """
    name = _NAMES.get(cls)
    if name is None:
        name = _NAMES[cls] = _compute_name(cls)
    return name


def _compute_name(cls: type) -> str:
    declared = cls.__dict__.get(_ATTRIBUTE)
    if declared is None:
        return _python_name(cls)
    if not isinstance(declared, str) or not declared.strip():
        raise ContractError(
            f"{_python_name(cls)}.__message_type__ must be a non-empty string such as "
            f"'AppDomain.Cashiers.CashierCreated', got {declared!r}."
        )
    return declared


class MessageTypeRegistry:
    """Maps wire type names to classes, refusing two classes under one name.

    Iterating yields the registered names in registration order; ``name in registry`` and
    ``cls in registry`` both work.
    """

    def __init__(self, types: Iterable[type] = ()) -> None:
        self._by_name: dict[str, type] = {}
        for cls in types:
            self.register(cls)

    def register(self, cls: type) -> str:
        """Register ``cls`` under its type name and return the name.

        Registering the same class again is a no-op; another class under the same name
        raises :class:`DuplicateMessageTypeError` naming both.
        """
        name = message_type_name(cls)
        existing = self._by_name.get(name)
        if existing is None:
            self._by_name[name] = cls
        elif existing is not cls:
            same = _python_name(existing) == _python_name(cls)
            hint = (
                " (two class objects with the same module and name: was the module imported "
                "twice, under two names or by a reload?)"
                if same
                else "; give one of them a distinct __message_type__"
            )
            raise DuplicateMessageTypeError(
                f"Message type name {name!r} is claimed by both {_python_name(existing)} and "
                f"{_python_name(cls)}{hint}."
            )
        return name

    def resolve(self, name: str) -> type:
        """The class registered under ``name``; :class:`UnknownMessageTypeError` if none."""
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)[:10]) or "none"
            raise UnknownMessageTypeError(
                f"Unknown message type {name!r}: no class with this type name is registered "
                f"(known: {known}). Define the class in the service's packages, or set its "
                f"__message_type__ to {name!r}."
            ) from None

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return item in self._by_name
        if isinstance(item, type):
            return self._by_name.get(message_type_name(item)) is item
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._by_name))

    def __len__(self) -> int:
        return len(self._by_name)

    def items(self) -> list[tuple[str, type]]:
        """``(name, class)`` pairs in registration order."""
        return list(self._by_name.items())

    def __repr__(self) -> str:
        return f"MessageTypeRegistry({len(self._by_name)} types)"
