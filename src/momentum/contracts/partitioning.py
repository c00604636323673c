"""Partition keys: the fields that keep an event's messages in order on one Kafka partition.

Mark fields with ``Annotated[T, PartitionKey(order)]``; :func:`partition_key` joins their values,
ordered by ``(order, field name)``, with ``|``, formatting each value the way Momentum .NET's
``Convert.ToString`` does so both languages put an entity's events on the same partition:

- ``None`` -> ``""``; ``str`` as is; ``int`` and ``Decimal`` with ``str()``;
- ``bool`` -> ``True`` / ``False``; an enum member -> its name;
- ``UUID`` -> canonical lower-case form (a ``str`` in a ``UUID`` field is canonicalized too).

Other types (``float``, ``datetime``, ...) are rejected when ``@event_topic`` runs, because
their text differs between languages. A ``|`` inside a value is left as is, exactly like
.NET's ``string.Concat``: the key is only hashed to pick a partition, never parsed, so two
different keys that happen to read the same merely share a partition. An event that defines
``partition_key(self) -> str`` (method or property) uses that instead of marked fields.

The per-class plan (which fields, in which order, how to format them) is computed once and
cached, since :func:`partition_key` runs for every published message.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from functools import partial
from types import NoneType, UnionType
from typing import Annotated, Any, ClassVar, Final, Literal, get_args, get_origin
from uuid import UUID

from momentum.contracts.errors import InvalidPartitionKeyError

SEPARATOR = "|"
IssueCode = Literal["partition-key-not-a-field", "partition-key-unsupported-type"]


@dataclass(frozen=True, slots=True)
class PartitionKey:
    """Marks a field as (part of) the partition key: ``Annotated[UUID, PartitionKey()]``.

    Attributes:
        order: Position of the field in a composite key; ties are broken by field name.
    """

    order: int = 0


@dataclass(frozen=True, slots=True)
class KeyIssue:
    """Why a ``PartitionKey`` marker cannot work.

    Attributes:
        field: The marked attribute.
        code: ``partition-key-not-a-field`` or ``partition-key-unsupported-type``.
        message: What is wrong and how to fix it, naming the class and the field.
    """

    field: str
    code: IssueCode
    message: str


@dataclass(frozen=True, slots=True)
class KeyPlan:
    """How to compute the partition key of one event class.

    Attributes:
        fields: Marked field names in key order (empty when there is no marked field).
        formatters: One value formatter per field in ``fields``.
        accessor: ``"method"`` or ``"property"`` when the class defines ``partition_key``
            itself (it wins over marked fields), else ``None``.
    """

    fields: tuple[str, ...]
    formatters: tuple[Callable[[Any], str], ...]
    accessor: Literal["method", "property"] | None


_PLANS: dict[type, KeyPlan] = {}
_KEY_FUNCTIONS: dict[type, Callable[[Any], str | None]] = {}

_AS_TEXT = (UUID, str, int, Decimal)

UUID_TEXT_CACHE_SIZE: Final = 4096
"""How many UUIDs :func:`uuid_text` remembers the text of (tenants, keys of busy entities)."""
_uuid_texts: dict[UUID, str] = {}
_last_uuid: tuple[UUID | None, str] = (None, "")
"""The UUID formatted last (compared by identity: no ``UUID.__hash__`` call) and its text."""


def uuid_text(value: UUID) -> str:
    """``str(value)``, remembered for the last few thousand UUIDs.

    A published event's tenant id is formatted for its envelope and again for its partition
    key (the second time is the identity check on the last one); tenants (and busy
    entities) repeat from event to event.
    """
    global _last_uuid
    last = _last_uuid
    if last[0] is value:
        return last[1]
    text = _uuid_texts.get(value)
    if text is None:
        text = str(value)
        if len(_uuid_texts) >= UUID_TEXT_CACHE_SIZE:
            _uuid_texts.clear()
        _uuid_texts[value] = text
    _last_uuid = (value, text)
    return text


def format_key_value(value: object) -> str:
    """One key value as text (see the module docstring); ``TypeError`` for other types."""
    kind = type(value)
    if kind is str:  # exact types first: this runs for every published message
        return value  # type: ignore[return-value]
    if kind is UUID:
        return uuid_text(value)  # type: ignore[arg-type]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, Enum):  # before str/int: StrEnum and IntEnum write their name
        return value.name
    if isinstance(value, _AS_TEXT):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot be part of a partition key")


def _format_uuid(value: object) -> str:
    if type(value) is UUID:
        return uuid_text(value)
    if isinstance(value, str):
        return str(UUID(value))
    return format_key_value(value)


def field_names(cls: type) -> list[str]:
    """The instance fields of a dataclass or pydantic model (annotated names otherwise)."""
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls)]
    model_fields = getattr(cls, "model_fields", None)
    if isinstance(model_fields, dict):
        return list(model_fields)
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name in inspect.get_annotations(klass):
            if name not in names:
                names.append(name)
    return names


def _unwrap(hint: Any) -> tuple[Any, str | None]:
    """Strip ``ClassVar``/``Final``/``InitVar``; return the inner hint and the wrapper name."""
    if isinstance(hint, dataclasses.InitVar):
        return hint.type, "InitVar"
    origin = get_origin(hint)
    if origin is ClassVar or origin is Final:
        args = get_args(hint)
        return (args[0] if args else Any), ("ClassVar" if origin is ClassVar else None)
    return hint, None


def _marker(hint: Any) -> tuple[PartitionKey | None, Any]:
    """The ``PartitionKey`` in an ``Annotated`` hint (if any) and the annotated type."""
    if get_origin(hint) is not Annotated:
        return None, hint
    base, *metadata = get_args(hint)
    for item in metadata:
        if isinstance(item, PartitionKey):
            return item, base
        if item is PartitionKey:
            return PartitionKey(), base
    return None, base


def _formatter(tp: Any) -> Callable[[Any], str] | None:
    """How to format values of type ``tp``, or ``None`` when ``tp`` is not supported."""
    supertype = getattr(tp, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return _formatter(supertype)
    origin = get_origin(tp)
    if origin is Annotated:
        return _formatter(get_args(tp)[0])
    if origin is typing.Union or origin is UnionType:
        members = [arg for arg in get_args(tp) if arg is not NoneType]
        formatters = [_formatter(arg) for arg in members]
        if any(f is None for f in formatters):
            return None
        return formatters[0] if len(formatters) == 1 else format_key_value
    if origin is Literal:
        ok = all(isinstance(v, str | int | Enum) for v in get_args(tp))
        return format_key_value if ok else None
    if not isinstance(tp, type):
        return None
    if issubclass(tp, UUID):
        return _format_uuid
    if issubclass(tp, bool | Enum | str | int | Decimal):
        return format_key_value
    return None


def _type_label(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else repr(tp)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _issues_and_marks(
    cls: type, hints: dict[str, Any]
) -> tuple[list[KeyIssue], list[tuple[int, str, Callable[[Any], str]]]]:
    issues: list[KeyIssue] = []
    marks: list[tuple[int, str, Callable[[Any], str]]] = []
    fields = set(field_names(cls))
    where = f"{cls.__module__}.{cls.__qualname__}"
    for name, raw in hints.items():
        hint, wrapper = _unwrap(raw)
        marker, base = _marker(hint)
        if marker is None:
            continue
        if name not in fields or wrapper is not None:
            kind = f"a {wrapper}" if wrapper else "not an instance field"
            issues.append(
                KeyIssue(
                    name,
                    "partition-key-not-a-field",
                    f"{where}.{name} is marked PartitionKey() but is {kind} of the event; "
                    f"mark one of its fields instead ({', '.join(sorted(fields)) or 'none'}).",
                )
            )
            continue
        formatter = _formatter(base)
        if formatter is None:
            issues.append(
                KeyIssue(
                    name,
                    "partition-key-unsupported-type",
                    f"{where}.{name} is marked PartitionKey() but its type "
                    f"{_type_label(base)} has no portable text form; use str, int, Decimal, "
                    f"bool, UUID or an Enum (optionally | None), or define "
                    f"partition_key(self) -> str on the event.",
                )
            )
            continue
        marks.append((marker.order, name, formatter))
    return issues, marks


def partition_key_issues(cls: type) -> list[KeyIssue]:
    """Every problem with the ``PartitionKey`` markers of ``cls`` (for ``momentum check``).

    Raises :class:`InvalidPartitionKeyError` when the annotations cannot be resolved.
    """
    return _issues_and_marks(cls, _resolved_hints(cls))[0]


def validate_partition_key(cls: type) -> None:
    """Raise :class:`InvalidPartitionKeyError` for the first bad ``PartitionKey`` marker.

    Run by ``@event_topic``. Annotations that cannot be resolved yet (a forward reference to
    a class defined further down the module) are skipped here; they are checked on first use
    and by ``momentum check``.
    """
    try:
        hints = _hints(cls)
    except NameError:
        return
    issues, _ = _issues_and_marks(cls, hints)
    if issues:
        raise InvalidPartitionKeyError(issues[0].message)


def _resolved_hints(cls: type) -> dict[str, Any]:
    try:
        return _hints(cls)
    except Exception as exc:
        raise InvalidPartitionKeyError(
            f"Cannot resolve the annotations of {cls.__module__}.{cls.__qualname__} to find "
            f"its partition key: {type(exc).__name__}: {exc}. Import the names its fields use "
            f"at module level."
        ) from exc


def _accessor(cls: type) -> Literal["method", "property"] | None:
    attribute = getattr(cls, "partition_key", None)
    if isinstance(attribute, property):
        return "property"
    if callable(attribute) and "partition_key" not in field_names(cls):
        return "method"
    return None


def partition_key_plan(cls: type) -> KeyPlan:
    """The cached :class:`KeyPlan` of ``cls``; raises :class:`InvalidPartitionKeyError`."""
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    accessor = _accessor(cls)
    issues, marks = _issues_and_marks(cls, _resolved_hints(cls))
    if issues and accessor is None:
        raise InvalidPartitionKeyError(issues[0].message)
    marks.sort(key=lambda mark: (mark[0], mark[1]))
    plan = KeyPlan(
        fields=tuple(name for _, name, _ in marks),
        formatters=tuple(formatter for _, _, formatter in marks),
        accessor=accessor,
    )
    _PLANS[cls] = plan
    return plan


def partition_key_fields(cls: type) -> tuple[str, ...]:
    """The marked field names of ``cls`` in key order (empty when there are none)."""
    return partition_key_plan(cls).fields


def partition_key(event: object) -> str | None:
    """The partition key of ``event``, or ``None`` when its class defines none.

    ``None`` tells the transport to key the record by the message id instead.
    """
    key_of = _KEY_FUNCTIONS.get(type(event))
    if key_of is None:
        key_of = partition_key_function(type(event))
    return key_of(event)


def partition_key_function(cls: type) -> Callable[[Any], str | None]:
    """What :func:`partition_key` does for instances of ``cls``, specialized and cached.

    Raises :class:`InvalidPartitionKeyError` as :func:`partition_key_plan` does.
    """
    found = _KEY_FUNCTIONS.get(cls)
    if found is not None:
        return found
    plan = partition_key_plan(cls)
    key_of: Callable[[Any], str | None]
    if plan.accessor is None and not plan.fields:
        key_of = _no_key
    elif plan.accessor is None and len(plan.fields) == 1:
        key_of = _single_field_key(cls, plan.fields[0], plan.formatters[0])
    else:
        key_of = partial(_planned_key, plan=plan)
    _KEY_FUNCTIONS[cls] = key_of
    return key_of


def _no_key(event: object) -> None:
    return None


def _single_field_key(
    cls: type, name: str, formatter: Callable[[Any], str]
) -> Callable[[Any], str | None]:
    """The key of an event keyed by one marked field: that field's text."""

    def key_of(event: object) -> str | None:
        value = getattr(event, name)
        if type(value) is UUID:
            return uuid_text(value)
        if type(value) is str and formatter is not _format_uuid:
            return value
        try:
            return formatter(value)
        except (TypeError, ValueError) as exc:
            raise _bad_value(cls, name, value, exc) from exc

    return key_of


def _bad_value(cls: type, name: str, value: object, exc: Exception) -> InvalidPartitionKeyError:
    return InvalidPartitionKeyError(
        f"{cls.__module__}.{cls.__qualname__}.{name} holds {value!r}, which cannot be "
        f"part of a partition key: {exc}."
    )


def _planned_key(event: object, *, plan: KeyPlan) -> str | None:
    cls = type(event)
    if plan.accessor is not None:
        value = event.partition_key  # type: ignore[attr-defined]
        if plan.accessor == "method":
            value = value()
        if value is None or isinstance(value, str):
            return value
        raise InvalidPartitionKeyError(
            f"{cls.__module__}.{cls.__qualname__}.partition_key returned "
            f"{type(value).__name__}; it must return a str (or None for no key)."
        )
    if not plan.fields:
        return None
    parts: list[str] = []
    for name, formatter in zip(plan.fields, plan.formatters, strict=True):
        value = getattr(event, name)
        try:
            parts.append(formatter(value))
        except (TypeError, ValueError) as exc:
            raise _bad_value(cls, name, value, exc) from exc
    return SEPARATOR.join(parts)
