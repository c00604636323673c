"""``@event_topic`` and ``topic_name``: where an integration event is published.

A topic name is ``{env}.{domain}.{public|internal}.{topic}[.{version}]``, all lower-case
(README: "Event contracts"). It never depends on which service computes it, so a publisher and its
consumers always agree. Every mistake in a declaration is reported when the decorator runs, by
a :class:`ContractError` subclass whose message names the class and says how to fix it.

Versions are ``v`` followed by digits (``v1``, ``v2``, ``V3`` is accepted and written ``v3``);
``""`` or ``None`` drops the suffix. Minor versions do not exist on the wire: a compatible
change keeps the topic, an incompatible one is a new major version on a new topic.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, TypeVar

from momentum.contracts import naming
from momentum.contracts.errors import (
    ConfigurationError,
    ContractError,
    InvalidDomainError,
    InvalidEventClassError,
    InvalidTopicError,
    InvalidVersionError,
    MissingEventTopicError,
)
from momentum.contracts.partitioning import validate_partition_key

T = TypeVar("T", bound=type)

MAX_TOPIC_LENGTH: Final = 249
"""Kafka's limit on the length of a topic name."""
_LONGEST_ENV: Final = 4  # environment_short_name() never returns more than 4 characters
_KAFKA_LEGAL = re.compile(r"[A-Za-z0-9._-]+")
_VERSION = re.compile(r"[vV][0-9]+")
_ENVIRONMENT = re.compile(r"[a-z0-9_-]+")
_ATTRIBUTE = "__event_topic__"


@dataclass(frozen=True, slots=True)
class EventTopic:
    """What ``@event_topic`` recorded about an event class (see :func:`get_event_topic`).

    Attributes:
        event_type: The decorated event class.
        topic: The topic part of the name as published (already pluralized if asked).
        domain: The domain given to the decorator, or ``None`` to resolve it from the
            event's package (see :func:`event_domain`).
        version: ``v1``, ``v2``, ... or ``""`` when the name has no version suffix.
        internal: ``True`` for the ``internal`` scope, ``False`` for ``public``.
        entity: The entity class the topic was derived from, or ``None`` for a named topic.
        pluralized: Whether the topic was pluralized.
    """

    event_type: type
    topic: str
    domain: str | None
    version: str
    internal: bool
    entity: type | None
    pluralized: bool

    @property
    def scope(self) -> str:
        """``internal`` or ``public``."""
        return "internal" if self.internal else "public"


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def frozen_problem(cls: type) -> str | None:
    """Why ``cls`` is not a frozen dataclass or frozen pydantic model, or ``None``."""
    if dataclasses.is_dataclass(cls):
        if cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
            return None
        return f"{_name(cls)} is not frozen: declare it with @dataclass(frozen=True)."
    config = getattr(cls, "model_config", None)
    if isinstance(config, dict) and hasattr(cls, "model_fields"):
        if config.get("frozen") is True:
            return None
        return (
            f"{_name(cls)} is not frozen: set model_config = ConfigDict(frozen=True) on the "
            f"pydantic model."
        )
    return (
        f"{_name(cls)} is neither a dataclass nor a pydantic model: make it a frozen "
        f"@dataclass(frozen=True) or a pydantic model with ConfigDict(frozen=True). Decorators "
        f"apply bottom-up, so @event_topic(...) goes above @dataclass(frozen=True)."
    )


def event_topic(
    entity_or_name: type | str | None = None,
    *,
    topic: str | None = None,
    domain: str | None = None,
    version: str | None = "v1",
    internal: bool = False,
    pluralize: bool | None = None,
) -> Callable[[T], T]:
    """Declare the topic an integration event is published to.

    An entity class gives the kebab-case of its name, pluralized (``UserAccount`` ->
    ``user-accounts``); an explicit string topic (positional or ``topic=``, which also
    overrides an entity) is used as given and not pluralized; ``pluralize=True/False``
    overrides either default. ``domain`` overrides the domain resolved from the package;
    ``version=""``/``None`` drops the version suffix; ``internal=True`` selects the
    ``internal`` scope. Works on frozen dataclasses and frozen pydantic models::

        @event_topic(Cashier)
        @dataclass(frozen=True)
        class CashierCreated: ...

    Raises a :class:`~momentum.contracts.errors.ContractError` subclass naming the class when
    the declaration cannot work.
    """

    def decorate(cls: T) -> T:
        if not isinstance(cls, type):
            raise InvalidEventClassError(
                f"@event_topic must decorate a class, not {type(cls).__name__} {cls!r}; put "
                f"it above a @dataclass(frozen=True) class or a frozen pydantic model."
            )
        problem = frozen_problem(cls)
        if problem is not None:
            raise InvalidEventClassError(f"@event_topic on {problem} Events are immutable.")
        metadata = EventTopic(
            event_type=cls,
            topic=_topic(cls, entity_or_name, topic, pluralize),
            domain=_declared_domain(cls, domain),
            version=_version(cls, version),
            internal=_flag(cls, "internal", internal),
            entity=entity_or_name if isinstance(entity_or_name, type) else None,
            pluralized=_pluralized(entity_or_name, topic, pluralize),
        )
        validate_partition_key(cls)
        _check_length(cls, metadata, _resolve_domain(cls, metadata, context="@event_topic on "))
        setattr(cls, _ATTRIBUTE, metadata)
        return cls

    return decorate


def _pluralized(entity_or_name: object, topic: str | None, pluralize: bool | None) -> bool:
    if pluralize is not None:
        return pluralize
    return topic is None and isinstance(entity_or_name, type)


def _flag(cls: type, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ContractError(
            f"@event_topic on {_name(cls)}: {name} must be True or False, got {value!r}."
        )
    return value


def _topic(cls: type, entity_or_name: object, topic: str | None, pluralize: bool | None) -> str:
    where = f"@event_topic on {_name(cls)}"
    if pluralize is not None:
        _flag(cls, "pluralize", pluralize)
    if isinstance(entity_or_name, str) and topic is not None:
        raise InvalidTopicError(
            f"{where}: the topic is given twice ({entity_or_name!r} and topic={topic!r}); "
            f"pass it once."
        )
    if entity_or_name is not None and not isinstance(entity_or_name, type | str):
        raise InvalidTopicError(
            f"{where}: the first argument must be an entity class or a topic name, got "
            f"{type(entity_or_name).__name__} {entity_or_name!r}."
        )
    explicit = topic if topic is not None else entity_or_name
    if explicit is None:
        raise InvalidTopicError(
            f"{where}: no topic; pass the entity class (@event_topic(Cashier)) or a topic "
            f"name (@event_topic('cashiers'))."
        )
    if isinstance(explicit, type):
        value = naming.kebab_case(explicit.__name__)
    elif isinstance(explicit, str):
        value = explicit
    else:
        raise InvalidTopicError(f"{where}: topic must be a string, got {explicit!r}.")
    if _pluralized(entity_or_name, topic, pluralize):
        value = naming.pluralize(value)
    problem = _topic_problem(value)
    if problem is not None:
        raise InvalidTopicError(f"{where}: {problem}")
    return value


def _topic_problem(value: str) -> str | None:
    if not value:
        return "the topic is empty; name it, e.g. 'cashiers'."
    if _KAFKA_LEGAL.fullmatch(value) is None:
        bad = sorted({c for c in value if _KAFKA_LEGAL.fullmatch(c) is None})
        return (
            f"topic {value!r} contains {', '.join(repr(c) for c in bad)}; Kafka topics allow "
            f"only ASCII letters, digits, '.', '_' and '-' (e.g. 'cashier-accounts')."
        )
    if value.startswith(".") or value.endswith(".") or ".." in value:
        return f"topic {value!r} has an empty '.'-separated part; remove the extra '.'."
    return None


def _declared_domain(cls: type, domain: str | None) -> str | None:
    if domain is None:
        return None
    problem = naming.domain_problem(domain)
    if problem is not None:
        raise InvalidDomainError(
            f"@event_topic on {_name(cls)}: invalid domain={domain!r}: {problem}. A domain "
            f"starts with a letter and has only letters, digits, '-' and '_' (e.g. 'AppDomain')."
        )
    return domain


def _version(cls: type, version: str | None) -> str:
    if version is None or version == "":
        return ""
    if isinstance(version, str) and _VERSION.fullmatch(version):
        return version.lower()
    raise InvalidVersionError(
        f"@event_topic on {_name(cls)}: invalid version={version!r}; use 'v' followed by the "
        f"major version number ('v1', 'v2'), or version=None to drop the suffix."
    )


def _module_name(cls: type) -> str:
    name = cls.__module__
    if name == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        if spec is not None and spec.name:
            return str(spec.name)
    return name


def package_domain(module_name: str) -> tuple[str, str]:
    """The domain of events defined in ``module_name``, and where it came from.

    The nearest of the module and its enclosing packages that defines ``__domain__`` wins;
    without one, the top-level package name without underscores (``app_domain`` ->
    ``appdomain``). Returns ``(domain, source)``, e.g. ``("AppDomain", "__domain__ of app")``.
    """
    parts = module_name.split(".")
    for depth in range(len(parts), 0, -1):
        name = ".".join(parts[:depth])
        module = sys.modules.get(name)
        value = getattr(module, "__dict__", {}).get("__domain__")
        if value is not None:
            return value, f"__domain__ of {name}"
    return parts[0].replace("_", ""), f"top-level package {parts[0]!r}"


def _resolve_domain(cls: type, metadata: EventTopic | None, *, context: str) -> str:
    if metadata is not None and metadata.domain is not None:
        return metadata.domain
    domain, source = package_domain(_module_name(cls))
    problem = naming.domain_problem(domain)
    if problem is not None:
        raise InvalidDomainError(
            f"{context}{_name(cls)}: the domain {domain!r} from the {source} is invalid: "
            f"{problem}. Set __domain__ = 'AppDomain' in the package, or pass "
            f"@event_topic(..., domain='AppDomain')."
        )
    return domain


def event_domain(event_type: type) -> str:
    """The domain of an event's topic as declared or resolved (not yet lower-cased).

    The decorator's ``domain``, else the nearest enclosing package defining ``__domain__``,
    else the top-level package name without underscores. Never depends on the service.
    """
    return _resolve_domain(event_type, get_event_topic(event_type), context="")


def _check_length(cls: type, metadata: EventTopic, domain: str) -> None:
    longest = _join("x" * _LONGEST_ENV, domain, metadata)
    if len(longest) > MAX_TOPIC_LENGTH:
        raise InvalidTopicError(
            f"@event_topic on {_name(cls)}: the topic name would be up to {len(longest)} "
            f"characters ({longest!r}); Kafka allows {MAX_TOPIC_LENGTH}. Shorten the topic "
            f"or the domain."
        )


def _join(env: str, domain: str, metadata: EventTopic) -> str:
    parts = [env, domain, metadata.scope, metadata.topic]
    if metadata.version:
        parts.append(metadata.version)
    return ".".join(parts).lower()


def get_event_topic(cls: type) -> EventTopic | None:
    """The :class:`EventTopic` that ``@event_topic`` recorded on ``cls`` itself, or ``None``.

    Not inherited: a subclass of an event needs its own ``@event_topic``. An event instance
    is accepted too and answers for its class.
    """
    if not isinstance(cls, type):
        cls = type(cls)
    value = cls.__dict__.get(_ATTRIBUTE)
    return value if isinstance(value, EventTopic) else None


def topic_name(event_type: type, environment: str) -> str:
    """``{env}.{domain}.{public|internal}.{topic}[.{version}]`` in lower-case.

    ``environment`` is shortened with
    :func:`~momentum.contracts.naming.environment_short_name` (``production`` -> ``prod``).
    Raises :class:`MissingEventTopicError` when the class has no ``@event_topic``.
    """
    if not isinstance(event_type, type):
        event_type = type(event_type)
    whole = environment.strip().lower() if isinstance(environment, str) else environment
    if not isinstance(whole, str) or _ENVIRONMENT.fullmatch(whole) is None:
        # checked whole: its short form alone would hide the fault ("pro d!" -> "pro ")
        raise ConfigurationError(
            f"Invalid environment {environment!r} for the topic of {_name(event_type)}: use "
            f"letters, digits, '-' or '_' (e.g. 'development', 'production')."
        )
    return _topic_name(event_type, naming.environment_short_name(whole))


@lru_cache(maxsize=4096)
def _topic_name(event_type: type, env: str) -> str:
    metadata = get_event_topic(event_type)
    if metadata is None:
        raise MissingEventTopicError(
            f"{_name(event_type)} has no topic: decorate it with @event_topic(Entity) or "
            f"@event_topic('topic-name') to publish it as an integration event."
        )
    if _ENVIRONMENT.fullmatch(env) is None:
        raise ConfigurationError(
            f"Invalid environment {env!r} for the topic of {_name(event_type)}: use letters, "
            f"digits, '-' or '_' (e.g. 'development', 'production')."
        )
    name = _join(env, _resolve_domain(event_type, metadata, context=""), metadata)
    if len(name) > MAX_TOPIC_LENGTH:
        raise InvalidTopicError(
            f"The topic of {_name(event_type)} is {len(name)} characters ({name!r}); Kafka "
            f"allows {MAX_TOPIC_LENGTH}. Shorten the topic or the domain."
        )
    return name
