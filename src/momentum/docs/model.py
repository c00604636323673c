"""The catalog model: what ``momentum docs`` knows about each event and nested type.

:func:`build_catalog` turns the events of a set of packages (:func:`find_events`) into
:class:`EventDoc` and :class:`TypeDoc` records, which the Markdown pages, the AsyncAPI
document and the contract file are rendered from. Everything here is plain data, computed
once; rendering never inspects a class again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from momentum.contracts.checks import Problem, Severity, check_event, own_docstring
from momentum.contracts.discovery import EventInfo, MessageKind, find_events
from momentum.contracts.errors import MomentumError
from momentum.contracts.serialization import DEFAULT_CASING, Casing
from momentum.contracts.topics import event_domain, topic_name
from momentum.docs.docstrings import ClassDoc, class_doc
from momentum.docs.examples import example
from momentum.docs.schemas import X_PYTHON_TYPE, WireSchema, python_name, wire_schema
from momentum.docs.sizes import Size, estimate

DEFAULT_ENVIRONMENTS: Final = ("development", "staging", "production")
"""Environments whose topic names a page shows as examples."""

_SUBDOMAIN_END: Final = frozenset({"contracts", "integration_events", "domain_events"})
_TEMPLATE_ENV: Final = "dev"


@dataclass(frozen=True, slots=True)
class FieldDoc:
    """One property of a payload or nested type.

    Attributes:
        name: The property name on the wire (``tenantId``).
        python_name: The Python field name (``tenant_id``), ``None`` when unknown.
        schema: The property's JSON Schema.
        required: Whether the property must be present.
        description: Its description, ``None`` when it has none (flagged on the page).
        size: Its estimated size (the value only, without the name).
    """

    name: str
    python_name: str | None
    schema: Mapping[str, Any]
    required: bool
    description: str | None
    size: Size


@dataclass(frozen=True, slots=True)
class TypeDoc:
    """A dataclass, pydantic model or enum carried by an event's payload.

    Attributes:
        python_name: ``module.qualname`` of the class.
        title: The class name.
        doc: Its docstring's summary, description and deprecation.
        schema: Its JSON Schema (references point into :attr:`defs`).
        defs: The ``$defs`` its schema's references resolve in.
        fields: Its properties (empty for an enum).
        size: Its estimated size.
        example: An example value.
        used_by: ``module.qualname`` of every event carrying it, in catalog order.
        problems: Documentation gaps (warnings), flagged on its page.
    """

    python_name: str
    title: str
    doc: ClassDoc
    schema: Mapping[str, Any]
    defs: Mapping[str, Any]
    fields: tuple[FieldDoc, ...]
    size: Size
    example: Any
    used_by: list[str] = field(default_factory=list)
    problems: tuple[Problem, ...] = ()

    @property
    def enum_values(self) -> tuple[Any, ...]:
        """The values of an enum (empty for other types)."""
        values = self.schema.get("enum")
        return tuple(values) if isinstance(values, list) else ()


@dataclass(frozen=True, slots=True)
class EventDoc:
    """One integration or domain event.

    Attributes:
        info: What discovery found (class, kind, wire type name, topic declaration).
        doc: Its docstring's summary, description and deprecation.
        domain: Its domain as declared or resolved (``appdomain``).
        subdomain: The package between the top-level package and its ``contracts`` /
            ``integration_events`` / ``domain_events`` module (``cashiers``), or ``None``.
        topic: The topic name with an ``{env}`` placeholder, ``None`` for a domain event
            (or when the declaration is invalid: see :attr:`problems`).
        topics: ``(environment, topic name)`` examples.
        partition_key: Partition key properties (wire names) in key order.
        wire: The annotated wire schema, ``None`` when pydantic cannot describe the class.
        fields: The payload's properties.
        size: The payload's estimated size (``None`` without a schema).
        example: An example payload.
        nested: ``module.qualname`` of the types the payload carries, at any depth.
        problems: What ``momentum check`` reports about the event, plus documentation gaps
            of domain events (warnings).
    """

    info: EventInfo
    doc: ClassDoc
    domain: str
    subdomain: str | None
    topic: str | None
    topics: tuple[tuple[str, str], ...]
    partition_key: tuple[str, ...]
    wire: WireSchema | None
    fields: tuple[FieldDoc, ...]
    size: Size | None
    example: Any
    nested: tuple[str, ...]
    problems: tuple[Problem, ...]

    @property
    def python_name(self) -> str:
        """``module.qualname`` of the class."""
        return self.info.name

    @property
    def title(self) -> str:
        """The class name."""
        return self.info.event_type.__qualname__

    @property
    def is_integration(self) -> bool:
        """Whether it is an integration event (published on Kafka)."""
        return self.info.kind is MessageKind.INTEGRATION_EVENT

    @property
    def status(self) -> str:
        """``active`` or ``deprecated``."""
        return "deprecated" if self.doc.deprecated else "active"

    @property
    def version(self) -> str | None:
        """``v1``, ``v2``..., ``""`` without a version suffix, ``None`` without a topic."""
        return None if self.info.topic is None else self.info.topic.version

    @property
    def scope(self) -> str | None:
        """``public`` or ``internal``, ``None`` without a topic."""
        return None if self.info.topic is None else self.info.topic.scope

    @property
    def entity(self) -> type | None:
        """The entity class the topic was named after, if any."""
        return None if self.info.topic is None else self.info.topic.entity


@dataclass(frozen=True, slots=True)
class Catalog:
    """Everything the docs of a set of packages are rendered from.

    Attributes:
        packages: The packages scanned.
        casing: Property casing of the payloads.
        environments: Environments of the topic examples.
        events: Events defined in the packages, in discovery order.
        types: Nested types by ``module.qualname``, in order of first use.
        received: Integration events the packages have handlers for (defined there or
            elsewhere), sorted by ``module.qualname``: the AsyncAPI ``receive`` operations.
    """

    packages: tuple[str, ...]
    casing: Casing
    environments: tuple[str, ...]
    events: tuple[EventDoc, ...]
    types: dict[str, TypeDoc]
    received: tuple[EventDoc, ...] = ()

    def type_of(self, python_name: str) -> TypeDoc | None:
        """The nested type named ``python_name``, if the catalog has a page for it."""
        return self.types.get(python_name)


def _subdomain(module: str) -> str | None:
    parts = module.split(".")[1:]
    taken: list[str] = []
    for part in parts:
        if part in _SUBDOMAIN_END:
            break
        taken.append(part)
    return ".".join(taken) or None


def _domain(cls: type) -> str:
    try:
        return event_domain(cls)
    except MomentumError:  # an invalid package domain: momentum check reports it
        return cls.__module__.split(".")[0]


def _topics(
    info: EventInfo, environments: Sequence[str]
) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    if info.topic is None:
        return None, ()
    try:
        template = "{env}" + topic_name(info.event_type, _TEMPLATE_ENV)[len(_TEMPLATE_ENV) :]
        examples = tuple((env, topic_name(info.event_type, env)) for env in environments)
    except MomentumError:  # reported by check_event
        return None, ()
    return template, examples


def _fields(
    schema: Mapping[str, Any], defs: Mapping[str, Any], wire_names: Mapping[str, str]
) -> tuple[FieldDoc, ...]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return ()
    required = set(schema.get("required") or ())
    python_of = {wire: py for py, wire in wire_names.items()}
    return tuple(
        FieldDoc(
            name=name,
            python_name=python_of.get(name),
            schema=prop,
            required=name in required,
            description=prop.get("description") or None,
            size=estimate(prop, defs),
        )
        for name, prop in properties.items()
    )


def _doc_gaps(cls: type, fields: Iterable[FieldDoc], what: str) -> list[Problem]:
    """Missing docstring and field descriptions, as warnings (domain events, nested types)."""
    name = python_name(cls)
    gaps: list[Problem] = []
    if own_docstring(cls) is None:
        gaps.append(
            Problem(
                Severity.WARNING,
                "missing-docstring",
                name,
                None,
                f"{name} has no docstring: say what {what}, and describe each field in an "
                f"'Attributes:' section.",
            )
        )
    for item in fields:
        if item.description is None:
            label = item.python_name or item.name
            gaps.append(
                Problem(
                    Severity.WARNING,
                    "missing-field-description",
                    name,
                    label,
                    f"{name}.{label} has no description: add '{label}: ...' under "
                    f"'Attributes:' in the class docstring (or Field(description=...)).",
                )
            )
    return gaps


def _schema_problem(info: EventInfo, exc: Exception) -> Problem:
    return Problem(
        Severity.ERROR,
        "not-json-serializable",
        info.name,
        None,
        f"{info.name} has no JSON Schema: {exc}",
    )


class _Builder:
    def __init__(self, casing: Casing, environments: Sequence[str]) -> None:
        self.casing = casing
        self.environments = tuple(environments)
        self.types: dict[str, TypeDoc] = {}

    def event(self, info: EventInfo, *, with_types: bool = True) -> EventDoc:
        cls = info.event_type
        problems = list(check_event(info))
        try:
            wire: WireSchema | None = wire_schema(cls, self.casing)
        except Exception as exc:  # pydantic raises several types for unsupported classes
            wire = None
            if not any(p.code == "not-json-serializable" for p in problems):
                problems.append(_schema_problem(info, exc))
        template, examples = _topics(info, self.environments)
        fields: tuple[FieldDoc, ...] = ()
        nested: tuple[str, ...] = ()
        size = payload = None
        key: tuple[str, ...] = ()
        if wire is not None:
            names = wire.wire_names.get(info.name, {})
            fields = _fields(wire.schema, wire.defs, names)
            size = estimate(wire.schema)
            payload = example(wire.schema)
            key = tuple(names.get(name, name) for name in info.partition_key_fields)
            nested = tuple(
                str(body[X_PYTHON_TYPE])
                for body in wire.defs.values()
                if isinstance(body, Mapping) and X_PYTHON_TYPE in body
            )
            if with_types:
                self.collect_types(info, wire)
        if info.kind is MessageKind.DOMAIN_EVENT:
            problems.extend(_doc_gaps(cls, fields, "happened"))
        return EventDoc(
            info=info,
            doc=class_doc(cls),
            domain=_domain(cls),
            subdomain=_subdomain(cls.__module__),
            topic=template,
            topics=examples,
            partition_key=key,
            wire=wire,
            fields=fields,
            size=size,
            example=payload,
            nested=nested,
            problems=tuple(problems),
        )

    def collect_types(self, info: EventInfo, wire: WireSchema) -> None:
        for body in wire.defs.values():
            if not isinstance(body, Mapping) or X_PYTHON_TYPE not in body:
                continue
            name = str(body[X_PYTHON_TYPE])
            found = self.types.get(name)
            if found is None:
                cls = wire.classes[name]
                fields = _fields(body, wire.defs, wire.wire_names.get(name, {}))
                found = self.types[name] = TypeDoc(
                    python_name=name,
                    title=cls.__qualname__,
                    doc=class_doc(cls),
                    schema=body,
                    defs=wire.defs,
                    fields=fields,
                    size=estimate(body, wire.defs),
                    example=example(body, wire.defs),
                    problems=tuple(_doc_gaps(cls, fields, "it is")) if fields else (),
                )
            if info.name not in found.used_by:
                found.used_by.append(info.name)


def build_catalog(
    classes: Iterable[type],
    packages: Sequence[str],
    *,
    casing: Casing = DEFAULT_CASING,
    environments: Sequence[str] = DEFAULT_ENVIRONMENTS,
    handled: Iterable[type] = (),
) -> Catalog:
    """The catalog of the events among ``classes`` (the classes defined in ``packages``).

    ``handled`` are the message types the packages have handlers for: those that are
    integration events with a topic become :attr:`Catalog.received`.
    """
    builder = _Builder(casing, environments)
    events = tuple(builder.event(info) for info in find_events(classes))
    by_type = {doc.info.event_type: doc for doc in events}
    received: list[EventDoc] = []
    for cls in dict.fromkeys(handled):
        doc = by_type.get(cls)
        if doc is None:
            infos = find_events([cls])
            if not infos:
                continue
            doc = builder.event(infos[0], with_types=False)
        if doc.is_integration and doc.info.topic is not None:
            received.append(doc)
    received.sort(key=lambda doc: doc.python_name)
    return Catalog(
        packages=tuple(packages),
        casing=casing,
        environments=tuple(environments),
        events=events,
        types=builder.types,
        received=tuple(received),
    )
