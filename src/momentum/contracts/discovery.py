"""Find the event contracts of a set of packages: what ``momentum topics`` and ``check`` list.

Integration events live in modules or packages named ``integration_events`` (any segment of
the dotted module path), domain events in ``domain_events``. Such a module may also define the
types its events carry (the ``Cashier`` entity of ``CashierCreated``); a class referenced by an
``@event_topic`` entity or by an event's field annotations is such a supporting type, not an
event. Classes are reported once, from the module that defines them.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from types import ModuleType
from typing import Any, get_args

from momentum.contracts.errors import ContractError
from momentum.contracts.message_types import message_type_name
from momentum.contracts.messages import Command, Query
from momentum.contracts.modules import import_modules
from momentum.contracts.partitioning import partition_key_plan
from momentum.contracts.topics import EventTopic, get_event_topic

INTEGRATION_EVENTS_SEGMENT = "integration_events"
DOMAIN_EVENTS_SEGMENT = "domain_events"


class MessageKind(Enum):
    """What role a message class plays."""

    INTEGRATION_EVENT = "integration-event"
    DOMAIN_EVENT = "domain-event"
    COMMAND = "command"
    QUERY = "query"
    OTHER = "other"


def message_kind(cls: type) -> MessageKind:
    """Classify ``cls``.

    ``Command``/``Query`` subclasses first; then a class in a module path with an
    ``integration_events`` segment is an integration event, one with a ``domain_events``
    segment a domain event; any other class carrying ``@event_topic`` is an integration event
    too (it has a topic, so it is published); everything else is ``OTHER``.
    """
    if issubclass(cls, Command):
        return MessageKind.COMMAND
    if issubclass(cls, Query):
        return MessageKind.QUERY
    segments = cls.__module__.split(".")
    if INTEGRATION_EVENTS_SEGMENT in segments:
        return MessageKind.INTEGRATION_EVENT
    if DOMAIN_EVENTS_SEGMENT in segments:
        return MessageKind.DOMAIN_EVENT
    if get_event_topic(cls) is not None:
        return MessageKind.INTEGRATION_EVENT
    return MessageKind.OTHER


@dataclass(frozen=True, slots=True)
class EventInfo:
    """One discovered event class.

    Attributes:
        event_type: The class.
        kind: ``INTEGRATION_EVENT`` or ``DOMAIN_EVENT``.
        type_name: Its wire type name (``ce_type``).
        topic: What ``@event_topic`` recorded, or ``None`` when it is not decorated.
        partition_key_fields: Marked partition-key fields in key order (empty when none, or
            when the markers are invalid: ``momentum check`` reports that).
        partition_key_method: Whether the class defines ``partition_key`` itself.
    """

    event_type: type
    kind: MessageKind
    type_name: str
    topic: EventTopic | None
    partition_key_fields: tuple[str, ...]
    partition_key_method: bool

    @property
    def name(self) -> str:
        """``module.qualname`` of the class."""
        return f"{self.event_type.__module__}.{self.event_type.__qualname__}"


def defined_classes(modules: Iterable[ModuleType]) -> list[type]:
    """Classes defined (not merely imported) in ``modules``, in definition order."""
    found: list[type] = []
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__:
                found.append(value)
    return found


def _is_message_shaped(cls: type) -> bool:
    """Public, concrete, not an enum or exception, and with fields (or a topic)."""
    if cls.__name__.startswith("_") or inspect.isabstract(cls):
        return False
    if issubclass(cls, Enum | BaseException):
        return False
    if dataclasses.is_dataclass(cls) or hasattr(cls, "model_fields"):
        return True
    return get_event_topic(cls) is not None or bool(inspect.get_annotations(cls))


def _referenced_types(hint: Any) -> Iterator[type]:
    """Classes mentioned anywhere in a type hint (``list[Cashier] | None`` -> ``Cashier``)."""
    if isinstance(hint, type):
        yield hint
    for arg in get_args(hint):
        yield from _referenced_types(arg)


def _field_types(cls: type) -> Iterator[type]:
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:  # unresolvable hints are reported by momentum check
        return
    for hint in hints.values():
        yield from _referenced_types(hint)


def _supporting_types(candidates: list[type]) -> set[type]:
    """Entities of ``@event_topic`` and types of the candidates' fields, minus events."""
    pool = set(candidates)
    supporting: set[type] = set()
    for cls in candidates:
        metadata = get_event_topic(cls)
        if metadata is not None and metadata.entity is not None:
            supporting.add(metadata.entity)
        supporting.update(t for t in _field_types(cls) if t in pool and t is not cls)
    return {cls for cls in supporting if get_event_topic(cls) is None}


def _info(cls: type, kind: MessageKind) -> EventInfo:
    try:
        plan = partition_key_plan(cls)
        fields, method = plan.fields, plan.accessor is not None
    except ContractError:
        fields, method = (), False
    try:
        type_name = message_type_name(cls)
    except ContractError:  # a bad __message_type__: momentum check reports it
        type_name = f"{cls.__module__}.{cls.__qualname__}"
    return EventInfo(
        event_type=cls,
        kind=kind,
        type_name=type_name,
        topic=get_event_topic(cls),
        partition_key_fields=fields,
        partition_key_method=method,
    )


def find_events(classes: Iterable[type]) -> list[EventInfo]:
    """The events among ``classes`` (see the module docstring), in the order given."""
    candidates = [cls for cls in classes if _is_message_shaped(cls)]
    supporting = _supporting_types(candidates)
    events: list[EventInfo] = []
    for cls in candidates:
        kind = message_kind(cls)
        if kind not in (MessageKind.INTEGRATION_EVENT, MessageKind.DOMAIN_EVENT):
            continue
        if cls in supporting:
            continue
        events.append(_info(cls, kind))
    return events


def discover_events(packages: Iterable[str]) -> list[EventInfo]:
    """Import ``packages`` and return their integration and domain events.

    Sorted by module, then definition order. Several events may share a topic, and versions
    of one event may live side by side (``v1``/``v2`` modules or ``version="v2"``).
    """
    return find_events(defined_classes(import_modules(packages)))
