"""Name conventions shared with Momentum's .NET services: cases, plurals, environments, URNs.

Every function here is pure and deterministic; topic names and the service URN are built from
them, so a change here changes wire names (DESIGN.md section 2).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from momentum.contracts.errors import InvalidDomainError, InvalidServiceNameError

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


def pluralize(word_or_kebab: str) -> str:
    """Pluralize the last word of a name, keeping everything else and the casing as given.

    ``user-account`` -> ``user-accounts``, ``SalesPerson`` -> ``SalesPeople``,
    ``category`` -> ``categories``. Words already plural, uncountable or invariant are left
    alone (``businesses``, ``accounting``, ``sheep``, ``series``), so pluralizing twice
    changes nothing. The last word is found with the same boundaries as :func:`kebab_case`;
    a last word without letters (``user-2``) is left alone.
    """
    words = _words(word_or_kebab)
    if not words:
        return word_or_kebab
    last = words[-1]
    if not any(char.isalpha() for char in last):
        return word_or_kebab
    start = word_or_kebab.rindex(last)
    end = start + len(last)
    plural = _recase(last, plural_noun(last.lower()))
    return word_or_kebab[:start] + plural + word_or_kebab[end:]


def _recase(original: str, plural: str) -> str:
    """Give ``plural`` (lower-case) the casing of ``original``."""
    if len(original) > 1 and original.isupper():
        return plural.upper()
    shared = 0
    for mine, theirs in zip(original.lower(), plural, strict=False):
        if mine != theirs:
            break
        shared += 1
    return original[:shared] + plural[shared:]


# Where inflect's answer is not the one we want (each entry is tested):
# - Latin/Greek plurals: inflect's modern default says "indexes", "mediums", "cactuses"; Momentum
#   .NET (whose topic names ours must match) and Rails-style inflectors say "indices", "media".
# - inflect treats "-man" in "German"/"Roman" as "man" ("Germen").
_IRREGULAR = {
    "appendix": "appendices",
    "cactus": "cacti",
    "consortium": "consortia",
    "curriculum": "curricula",
    "focus": "foci",
    "fungus": "fungi",
    "german": "germans",
    "index": "indices",
    "matrix": "matrices",
    "medium": "media",
    "memorandum": "memoranda",
    "millennium": "millennia",
    "radius": "radii",
    "roman": "romans",
    "syllabus": "syllabi",
    "vertex": "vertices",
}
_KNOWN_PLURALS = frozenset(_IRREGULAR.values())
# Uncountable or invariant nouns inflect pluralizes anyway ("accountings", "softwares").
_UNCOUNTABLE = frozenset(
    {
        "accounting",
        "advice",
        "bison",
        "chaos",
        "elk",
        "evidence",
        "feedback",
        "firmware",
        "hardware",
        "homework",
        "knowledge",
        "middleware",
        "money",
        "music",
        "police",
        "progress",
        "research",
        "rice",
        "software",
        "staff",
        "swine",
        "tennis",
        "traffic",
        "weather",
    }
)
# inflect.singular_noun() strips the "s" of these singular words ("bu", "alia", "analysi"),
# which would make them look plural already; so do all words ending in "-us" (except the
# plurals of nouns ending in "-u") and "-sis".
_SINGULAR_ENDING_IN_S = frozenset(
    {"alias", "atlas", "axis", "bias", "canvas", "gas", "iris", "lens", "metropolis", "trellis"}
)
_NOUNS_ENDING_IN_U = frozenset(
    {"emu", "gnu", "guru", "haiku", "impromptu", "menu", "sudoku", "tofu", "tutu", "zebu"}
)


@cache
def _engine() -> Any:
    import inflect  # imported lazily: it takes about a second to import

    return inflect.engine()


@cache
def plural_noun(word: str) -> str:
    """The plural of one lower-case English noun; plural or uncountable nouns come back as is."""
    if word in _UNCOUNTABLE or word in _KNOWN_PLURALS:
        return word
    irregular = _IRREGULAR.get(word)
    if irregular is not None:
        return irregular
    if _is_plural(word):
        return word
    return str(_engine().plural_noun(word))


def _is_plural(word: str) -> bool:
    if word in _SINGULAR_ENDING_IN_S or word.endswith("sis"):
        return False
    if word.endswith("us") and word[:-1] not in _NOUNS_ENDING_IN_U:
        return False
    singular = _engine().singular_noun(word)
    return bool(singular) and singular != word and _engine().plural_noun(singular) == word


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
