"""Name conventions shared with Momentum's .NET services: cases, plurals, environments, URNs.

Every function here is pure and deterministic; topic names and the service URN are built from
them, so a change here changes wire names.
"""

from __future__ import annotations

import re

from momentum.contracts.errors import InvalidDomainError, InvalidServiceNameError
from momentum.contracts.plurals import pluralize

__all__ = [
    "domain_problem",
    "environment_short_name",
    "kebab_case",
    "pluralize",
    "service_urn",
    "snake_case",
    "validate_domain",
    "validate_service_name",
]

_DOMAIN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_SERVICE_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


def _words(name: str) -> list[str]:
    """Split an identifier into words (see :func:`kebab_case` for the rules)."""
    words: list[str] = []
    current: list[str] = []
    for index, char in enumerate(name):
        if not char.isalnum():
            if current:
                words.append("".join(current))
                current = []
            continue
        if current and char.isupper():
            previous = name[index - 1]
            following = name[index + 1] if index + 1 < len(name) else ""
            if (
                previous.islower()
                or previous.isdigit()
                or (previous.isupper() and following.islower())
            ):
                words.append("".join(current))
                current = []
        current.append(char)
    if current:
        words.append("".join(current))
    return words


def kebab_case(name: str) -> str:
    """``UserAccount`` -> ``user-account``, the way Momentum .NET names topics.

    A word starts at an upper-case letter that follows a lower-case letter or a digit, and at
    the last capital of an acronym run when a lower-case letter follows it
    (``HTTPRequest`` -> ``http-request``). Digits stay with the word before them
    (``Number1InString`` -> ``number1-in-string``). Any other character (``_``, ``-``, space,
    ``.``) separates words, so kebab-case and snake_case input come out unchanged in shape.
    """
    return "-".join(word.lower() for word in _words(name))


def snake_case(name: str) -> str:
    """``AppDomain`` -> ``app_domain``: the words of :func:`kebab_case` joined by ``_``."""
    return "_".join(word.lower() for word in _words(name))


def environment_short_name(environment: str) -> str:
    """The environment as it appears in topic names (lower-case).

    ``development`` -> ``dev``; names shorter than 5 characters are unchanged (``prod``,
    ``test``, ``qa``); any other name is cut to its first 4 characters (``production`` ->
    ``prod``, ``staging`` -> ``stag``). This mirrors Momentum .NET's ``GetEnvNameShort``.
    """
    lowered = environment.strip().lower()
    if len(lowered) < 5:
        return lowered
    if lowered == "development":
        return "dev"
    return lowered[:4]


def domain_problem(domain: object) -> str | None:
    """Why ``domain`` is not a valid domain, or ``None`` when it is."""
    if not isinstance(domain, str):
        return f"a domain must be a string, got {type(domain).__name__}"
    if not domain:
        return "the domain is empty"
    if not domain[0].isascii() or not domain[0].isalpha():
        return f"a domain must start with a letter, {domain!r} starts with {domain[0]!r}"
    if _DOMAIN.fullmatch(domain) is None:
        bad = sorted({c for c in domain if not (c.isascii() and (c.isalnum() or c in "-_"))})
        return (
            f"a domain may only contain letters, digits, '-' and '_'; {domain!r} contains "
            + ", ".join(repr(c) for c in bad)
        )
    return None


def validate_domain(domain: str) -> str:
    """Return ``domain`` when it starts with a letter and has only ``[A-Za-z0-9_-]``.

    Raises :class:`InvalidDomainError` otherwise (``.`` is reserved: it separates topic
    parts).
    """
    problem = domain_problem(domain)
    if problem is not None:
        raise InvalidDomainError(
            f"Invalid domain {domain!r}: {problem}. Use a name like 'AppDomain' or 'billing'."
        )
    return domain


def validate_service_name(name: str) -> str:
    """Return ``name`` when it is a kebab-case service name such as ``app-domain``.

    Lower-case letters and digits in words joined by single ``-``, starting with a letter.
    Raises :class:`InvalidServiceNameError` otherwise, suggesting the kebab-case spelling.
    """
    if isinstance(name, str) and _SERVICE_NAME.fullmatch(name) is not None:
        return name
    hint = ""
    if isinstance(name, str) and kebab_case(name) and _SERVICE_NAME.fullmatch(kebab_case(name)):
        hint = f" Did you mean {kebab_case(name)!r}?"
    raise InvalidServiceNameError(
        f"Invalid service name {name!r}: use kebab-case (lower-case letters and digits, words "
        f"joined by '-', starting with a letter), e.g. 'app-domain'.{hint}"
    )


def service_urn(domain: str, service_name: str) -> str:
    """The service URN used as CloudEvents ``source``: ``/{domain_snake_case}/{service-name}``.

    ``service_urn("AppDomain", "app-domain")`` -> ``/app_domain/app-domain``.
    """
    validate_domain(domain)
    validate_service_name(service_name)
    return f"/{snake_case(domain)}/{service_name}"
