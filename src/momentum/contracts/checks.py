"""Static checks of event contracts, run by ``momentum check`` (and usable from tests).

Every :class:`Problem` names the class (and field) and says how to fix it. Codes:

- ``missing-docstring``: an integration event without a docstring.
- ``missing-field-description``: an integration event field described neither in a
  Google-style ``Attributes:`` section of the docstring, nor with pydantic
  ``Field(description=...)``, nor with dataclass ``field(metadata={"description": ...})``.
- ``missing-event-topic``: an integration event without ``@event_topic``.
- ``not-frozen``: an event that is not a frozen dataclass or frozen pydantic model.
- ``partition-key-not-a-field``: ``PartitionKey()`` on something that is not a field.
- ``partition-key-unsupported-type``: ``PartitionKey()`` on a field of an unsupported type.
- ``unresolvable-annotation``: field annotations that cannot be resolved.
- ``invalid-message-type``: a ``__message_type__`` that is not a non-empty string.
- ``duplicate-type-name``: two event classes with one wire type name.
- ``not-json-serializable``: an integration event field pydantic cannot serialize to JSON.

The dataclasses and pydantic models an integration event carries (``Cashier`` in
``CashierCreated``) are part of its contract too: a missing docstring or field description
there is reported with the same codes as a warning (``momentum check`` still exits 0).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import TypeAdapter

from momentum.contracts.discovery import EventInfo, MessageKind, defined_classes, find_events
from momentum.contracts.errors import ContractError
from momentum.contracts.message_types import message_type_name
from momentum.contracts.modules import import_modules
from momentum.contracts.partitioning import field_names, partition_key_issues
from momentum.contracts.topics import frozen_problem, get_event_topic

_ENTRY = re.compile(r"\*{0,2}([A-Za-z_][A-Za-z0-9_]*)\s*(?:\([^)]*\))?\s*:\s*(.*)")


class Severity(Enum):
    """How bad a :class:`Problem` is; ``momentum check`` fails on errors."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an event contract.

    Attributes:
        severity: :class:`Severity` of the problem.
        code: Stable identifier, e.g. ``missing-event-topic`` (see the module docstring).
        class_name: ``module.qualname`` of the offending class.
        field: The offending field, or ``None`` for the class as a whole.
        message: What is wrong and how to fix it.
    """

    severity: Severity
    code: str
    class_name: str
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.severity.value} [{self.code}] {self.message}"

    def to_dict(self) -> dict[str, str | None]:
        """A JSON-ready dict (for ``momentum check --json``)."""
        return {
            "severity": self.severity.value,
            "code": self.code,
            "class": self.class_name,
            "field": self.field,
            "message": self.message,
        }


def _error(cls: type, code: str, message: str, field: str | None = None) -> Problem:
    return Problem(Severity.ERROR, code, _name(cls), field, message)


def _warning(cls: type, code: str, message: str, field: str | None = None) -> Problem:
    return Problem(Severity.WARNING, code, _name(cls), field, message)


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def check_events(packages: Iterable[str]) -> list[Problem]:
    """Import ``packages`` and check every event they define; ``[]`` when all is well."""
    return check_classes(defined_classes(import_modules(packages)))


def check_classes(classes: Iterable[type]) -> list[Problem]:
    """Check the events among ``classes`` (see :func:`~.discovery.find_events`)."""
    events = find_events(classes)
    problems: list[Problem] = []
    for info in events:
        problems.extend(check_event(info))
    problems.extend(_duplicates(events))
    problems.extend(_nested_documentation(events))
    return problems


def check_event(info: EventInfo) -> list[Problem]:
    """The problems of one discovered event."""
    cls = info.event_type
    problems: list[Problem] = []
    frozen = frozen_problem(cls)
    if frozen is not None:
        problems.append(_error(cls, "not-frozen", f"{frozen} Events are immutable facts."))
    key_problems = _partition_key_problems(cls)
    problems.extend(key_problems)
    resolvable = not any(p.code == "unresolvable-annotation" for p in key_problems)
    try:
        message_type_name(cls)
    except ContractError as exc:
        problems.append(_error(cls, "invalid-message-type", str(exc)))
    if info.kind is MessageKind.INTEGRATION_EVENT:
        if info.topic is None:
            problems.append(
                _error(
                    cls,
                    "missing-event-topic",
                    f"{_name(cls)} is an integration event but has no @event_topic: add "
                    f"@event_topic(Entity) or @event_topic('topic-name') above its class "
                    f"decorator.",
                )
            )
        problems.extend(_documentation_problems(cls))
        if resolvable:  # otherwise pydantic fails for the same, already reported, reason
            problems.extend(_json_problems(cls))
    return problems


def _partition_key_problems(cls: type) -> list[Problem]:
    try:
        issues = partition_key_issues(cls)
    except ContractError as exc:
        return [_error(cls, "unresolvable-annotation", str(exc))]
    return [_error(cls, issue.code, issue.message, issue.field) for issue in issues]


def _duplicates(events: list[EventInfo]) -> list[Problem]:
    by_name: dict[str, list[EventInfo]] = defaultdict(list)
    for info in events:
        by_name[info.type_name].append(info)
    problems: list[Problem] = []
    for type_name, infos in by_name.items():
        if len(infos) > 1:
            names = " and ".join(info.name for info in infos)
            problems.append(
                _error(
                    infos[0].event_type,
                    "duplicate-type-name",
                    f"Type name {type_name!r} is used by {names}; give each a distinct "
                    f"__message_type__ so consumers can tell them apart.",
                )
            )
    return problems


def own_docstring(cls: type) -> str | None:
    """The docstring written on ``cls`` itself (not inherited, not dataclass-generated)."""
    doc = cls.__dict__.get("__doc__")
    if not isinstance(doc, str) or not doc.strip():
        return None
    if dataclasses.is_dataclass(cls):
        try:
            generated = cls.__name__ + str(inspect.signature(cls)).replace(" -> None", "")
        except (TypeError, ValueError):
            generated = cls.__name__
        if doc == generated:
            return None
    return doc


def documented_attributes(docstring: str) -> dict[str, str]:
    """The ``name: description`` entries of a Google-style ``Attributes:`` section."""
    found: dict[str, str] = {}
    section_indent: int | None = None
    entry_indent: int | None = None
    current: str | None = None
    for number, line in enumerate(inspect.cleandoc(docstring).splitlines()):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if section_indent is None or (stripped and indent <= section_indent):
            # cleandoc dedents the lines after a header on the docstring's first line to 0
            header_indent = -1 if number == 0 else indent
            section_indent = header_indent if stripped == "Attributes:" else None
            entry_indent, current = None, None
            continue
        if not stripped:
            continue
        if entry_indent is None:
            entry_indent = indent
        match = _ENTRY.fullmatch(stripped) if indent == entry_indent else None
        if match is not None:
            current = match.group(1)
            found[current] = match.group(2).strip()
        elif current is not None and indent > entry_indent:
            found[current] = f"{found[current]} {stripped}".strip()
    return found


def field_description(cls: type, name: str) -> str | None:
    """The description of field ``name`` of ``cls``, or ``None`` when it has none.

    Taken from pydantic ``Field(description=...)``, dataclass
    ``field(metadata={"description": ...})`` or an ``Attributes:`` section of the docstring of
    ``cls`` or a base class, in that order.
    """
    model_fields = getattr(cls, "model_fields", None)
    if isinstance(model_fields, dict) and name in model_fields:
        description = getattr(model_fields[name], "description", None)
        if description:
            return str(description)
    if dataclasses.is_dataclass(cls):
        for item in dataclasses.fields(cls):
            if item.name == name and item.metadata.get("description"):
                return str(item.metadata["description"])
    for klass in cls.__mro__:
        doc = own_docstring(klass)
        if doc is not None:
            description = documented_attributes(doc).get(name)
            if description:
                return description
    return None


def _documentation_problems(cls: type) -> list[Problem]:
    problems: list[Problem] = []
    if own_docstring(cls) is None:
        problems.append(
            _error(
                cls,
                "missing-docstring",
                f"{_name(cls)} has no docstring: say when it is published, and describe "
                f"each field in an 'Attributes:' section. Other teams read it as the contract.",
            )
        )
    for name in field_names(cls):
        if field_description(cls, name) is None:
            problems.append(
                _error(
                    cls,
                    "missing-field-description",
                    f"{_name(cls)}.{name} has no description: add '{name}: ...' under "
                    f"'Attributes:' in the class docstring (or Field(description=...)).",
                    name,
                )
            )
    return problems


def _schema_error(target: Any) -> str | None:
    try:
        TypeAdapter(target).json_schema(mode="serialization")
    except Exception as exc:
        first_sentence = str(exc).splitlines()[0].split(". ")[0].rstrip(".")
        return f"{type(exc).__name__}: {first_sentence}"
    return None


def _json_problems(cls: type) -> list[Problem]:
    whole = _schema_error(cls)
    if whole is None:
        return []
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:
        hints = {}
    problems = [
        _error(
            cls,
            "not-json-serializable",
            f"{_name(cls)}.{name} cannot be serialized to JSON ({reason}); use JSON-friendly "
            f"types (str, int, Decimal, bool, UUID, datetime, enums, lists, dataclasses, "
            f"pydantic models).",
            name,
        )
        for name in field_names(cls)
        if name in hints and (reason := _schema_error(hints[name])) is not None
    ]
    return problems or [
        _error(
            cls,
            "not-json-serializable",
            f"{_name(cls)} cannot be serialized to JSON ({whole}).",
        )
    ]


def _referenced_classes(hint: Any) -> list[type]:
    """Classes mentioned anywhere in a type hint (``list[Cashier] | None`` -> ``Cashier``)."""
    found = [hint] if isinstance(hint, type) else []
    for arg in typing.get_args(hint):
        found.extend(_referenced_classes(arg))
    return found


def nested_types(cls: type) -> list[type]:
    """The dataclasses and pydantic models carried by the fields of ``cls``, at any depth.

    In the order first met, each once, without ``cls`` itself and without events (classes
    with ``@event_topic``): ``CashierCreated`` -> ``[Cashier]``.
    """
    found: dict[type, None] = {}
    pending = [cls]
    while pending:
        current = pending.pop(0)
        try:
            hints = typing.get_type_hints(current, include_extras=True)
        except Exception:  # reported as unresolvable-annotation for events
            continue
        for name in field_names(current):
            for candidate in _referenced_classes(hints.get(name)):
                if candidate is cls or candidate in found or get_event_topic(candidate):
                    continue
                if dataclasses.is_dataclass(candidate) or hasattr(candidate, "model_fields"):
                    found[candidate] = None
                    pending.append(candidate)
    return list(found)


def _nested_documentation(events: list[EventInfo]) -> list[Problem]:
    carriers: dict[type, list[str]] = defaultdict(list)
    for info in events:
        if info.kind is MessageKind.INTEGRATION_EVENT:
            for nested in nested_types(info.event_type):
                carriers[nested].append(info.event_type.__qualname__)
    problems: list[Problem] = []
    for cls, used_by in carriers.items():
        carried = f"{_name(cls)} (carried by {', '.join(used_by)})"
        if own_docstring(cls) is None:
            problems.append(
                _warning(
                    cls,
                    "missing-docstring",
                    f"{carried} has no docstring: say what it is, and describe each field "
                    f"in an 'Attributes:' section.",
                )
            )
        problems.extend(
            _warning(
                cls,
                "missing-field-description",
                f"{carried}: {name} has no description: add '{name}: ...' under "
                f"'Attributes:' in the class docstring (or Field(description=...)).",
                name,
            )
            for name in field_names(cls)
            if field_description(cls, name) is None
        )
    return problems
