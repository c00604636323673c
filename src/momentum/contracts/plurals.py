"""English plurals the way Momentum .NET computes them for topic names.

Topic names are shared between the .NET and the Python side of a system, so the plural of an
entity name has to come out exactly as Momentum .NET's ``PluralizationExtensions.Pluralize``
writes it, including its quirks. That algorithm works on the whole string it is given (for a
topic: the whole kebab-case entity name, ``search-index`` -> ``search-indexes``), so the word
lists below only match a name that *is* the listed word (``person`` -> ``people`` but
``sales-person`` -> ``sales-persons``). In order:

1. A blank string or one shorter than 2 characters is returned as is; anything else is
   trimmed (and returned as is when that leaves fewer than 2 characters).
2. Uncountable words (``glass``, ``currency``), invariant words (``sheep``, ``series``), the
   plural of an irregular word (``people``, ``data``), anything ending in ``-ed`` that is not
   one of a few ``-ed`` nouns (``created``; ``seed`` is a noun), and anything that looks plural
   already (see :func:`_looks_plural`) is returned unchanged.
3. An irregular word gets its listed plural (``child`` -> ``children``, ``index`` ->
   ``indices``, ``formula`` -> ``formulae``).
4. Otherwise the suffix rules apply, the first that matches wins: ``-is`` -> ``-es``;
   ``-us`` (not ``-ous``) -> ``-uses``; consonant + ``y`` -> ``-ies``, vowel + ``y`` -> ``-ys``;
   ``-o`` -> ``-oes`` for a short list, else ``-os``; ``-s``/``-x``/``-z``/``-ch``/``-sh`` ->
   ``+es`` (``quiz`` -> ``quizes``); ``-f``/``-fe`` -> ``-ves`` except a short list; else ``+s``.
5. Casing: an all-capitals word comes back all capitals, a capitalised word capitalised.

The ``y``/``o`` tests and the vowel test before ``y`` are case-sensitive, as in .NET (so
``CITY`` -> ``CITYS``); every other comparison ignores case. Because step 2 only recognises
some plurals, pluralizing twice can change a name (``dogs`` -> ``dogses``), exactly as it does
in .NET.
"""

from __future__ import annotations

__all__ = ["pluralize"]

# Irregular singular -> plural (compared ignoring case; the plural is written lower-case).
_IRREGULAR: dict[str, str] = {
    # people and animals
    "child": "children",
    "foot": "feet",
    "goose": "geese",
    "louse": "lice",
    "man": "men",
    "mouse": "mice",
    "ox": "oxen",
    "person": "people",
    "tooth": "teeth",
    "woman": "women",
    # other English irregulars
    "die": "dice",
    "penny": "pence",
    # Latin -us
    "alumnus": "alumni",
    "bacillus": "bacilli",
    "cactus": "cacti",
    "focus": "foci",
    "fungus": "fungi",
    "hippopotamus": "hippopotami",
    "nucleus": "nuclei",
    "radius": "radii",
    "stimulus": "stimuli",
    "syllabus": "syllabi",
    "corpus": "corpora",
    "genus": "genera",
    "opus": "opera",
    "viscus": "viscera",
    "octopus": "octopuses",
    "platypus": "platypuses",
    "rhinoceros": "rhinoceroses",
    # Latin -um and Greek -on
    "addendum": "addenda",
    "bacterium": "bacteria",
    "consortium": "consortia",
    "curriculum": "curricula",
    "datum": "data",
    "erratum": "errata",
    "gymnasium": "gymnasia",
    "medium": "media",
    "memorandum": "memoranda",
    "millennium": "millennia",
    "stratum": "strata",
    "symposium": "symposia",
    "criterion": "criteria",
    "phenomenon": "phenomena",
    # -ex / -ix, -is
    "appendix": "appendices",
    "index": "indices",
    "matrix": "matrices",
    "vertex": "vertices",
    "axis": "axes",
    "diagnosis": "diagnoses",
    "ellipsis": "ellipses",
    "hypothesis": "hypotheses",
    "oasis": "oases",
    "synopsis": "synopses",
    "thesis": "theses",
    # French -eau
    "bureau": "bureaux",
    "plateau": "plateaux",
    "tableau": "tableaux",
    # Latin -a
    "alga": "algae",
    "antenna": "antennae",
    "formula": "formulae",
    "larva": "larvae",
    "nebula": "nebulae",
    "vertebra": "vertebrae",
    "vita": "vitae",
}
_IRREGULAR_PLURALS = frozenset(_IRREGULAR.values())

# Words that are their own plural.
_INVARIANT = frozenset(
    {
        # animals
        "bass", "bison", "buffalo", "carp", "cod", "deer", "elk", "fish", "moose", "perch",
        "pike", "salmon", "sheep", "shrimp", "squid", "swine", "trout",
        # nationalities
        "chinese", "japanese", "maltese", "portuguese", "swiss", "vietnamese",
        # other
        "aircraft", "apparatus", "chassis", "corps", "crossroads", "gallows", "grouse",
        "headquarters", "hovercraft", "innings", "means", "offspring", "precis", "series",
        "spacecraft", "species", "staff", "watercraft",
    }
)  # fmt: skip

# Mass nouns, which have no plural.
_UNCOUNTABLE = frozenset(
    {
        # materials
        "aluminum", "brass", "bronze", "copper", "cotton", "glass", "gold", "iron", "paper",
        "plastic", "silk", "silver", "steel", "wood", "wool",
        # food and drink
        "bacon", "beef", "bread", "butter", "cheese", "chocolate", "coffee", "flour", "honey",
        "jam", "meat", "milk", "pasta", "pepper", "pork", "rice", "salt", "sugar", "tea",
        "water",
        # abstract
        "accounting", "advice", "anger", "art", "beauty", "courage", "dancing", "education",
        "employment", "evidence", "happiness", "hate", "health", "homework", "honesty",
        "housework", "information", "intelligence", "knowledge", "love", "music", "patience",
        "poetry", "poverty", "pride", "progress", "research", "sadness", "singing", "wealth",
        "wisdom", "work",
        # other
        "baggage", "cold", "currency", "darkness", "electricity", "energy", "equipment", "fog",
        "fun", "furniture", "garbage", "gravity", "hardware", "heat", "humidity", "laughter",
        "leisure", "lightning", "luggage", "machinery", "money", "pollution", "power", "rain",
        "recreation", "rubbish", "snow", "software", "sunshine", "thunder", "time", "traffic",
        "transportation", "underwear", "warmth", "weather", "wind",
    }
)  # fmt: skip

# -f / -fe words that just take -s (roof -> roofs, not rooves).
_F_TAKES_S = frozenset(
    {"belief", "cafe", "chef", "chief", "cliff", "giraffe", "proof", "reef", "roof", "safe",
     "strife"}
)  # fmt: skip

# -o words that take -es (the others take -s).
_O_TAKES_ES = frozenset(
    {"domino", "echo", "embargo", "hero", "mango", "mosquito", "potato", "tomato", "tornado",
     "torpedo", "veto", "volcano"}
)  # fmt: skip

# -ed words that are nouns; every other -ed word is taken for a verb form and left alone.
_ED_NOUNS = frozenset(
    {"bed", "breed", "creed", "deed", "feed", "greed", "need", "reed", "seed", "shed", "sled",
     "speed", "weed"}
)  # fmt: skip

# A word ending in -s (not -ss) counts as plural already when the two letters before the
# -s are one of these (users, tables, models, tokens, assets).
_PLURAL_BEFORE_S = frozenset(
    {
        "ar", "er", "or",
        "ce", "de", "ge", "le", "me", "ne", "pe", "re", "se", "te", "ve", "we", "ze",
        "al", "el", "il", "ol", "ul",
        "an", "en", "in", "on", "un",
        "at", "et", "it", "ot", "ut",
    }
)  # fmt: skip

_SIBILANTS = ("s", "x", "z", "ch", "sh")
_VOWELS = frozenset("aeiou")


def pluralize(word: str) -> str:
    """The plural of ``word`` as Momentum .NET's ``Pluralize`` writes it (see the module).

    ``customer`` -> ``customers``, ``child`` -> ``children``, ``sheep`` -> ``sheep``,
    ``Country`` -> ``Countries``, ``search-index`` -> ``search-indexes``.
    """
    if len(word) < 2 or word.isspace():
        return word
    word = word.strip()
    lowered = word.lower()
    if len(word) < 2 or not _takes_plural(lowered):
        return word
    plural = _IRREGULAR.get(lowered) or _by_suffix(word, lowered)
    if all(char.isupper() for char in word if char.isalpha()):
        return plural.upper()
    if word[0].isupper():
        return plural[0].upper() + plural[1:]
    return plural


def _takes_plural(lowered: str) -> bool:
    if lowered in _UNCOUNTABLE or lowered in _INVARIANT or lowered in _IRREGULAR_PLURALS:
        return False
    if len(lowered) > 2 and lowered.endswith("ed") and lowered not in _ED_NOUNS:
        return False
    return not _looks_plural(lowered)


def _looks_plural(lowered: str) -> bool:
    """Whether .NET takes ``lowered`` for a plural already (``countries``, ``users``)."""
    if len(lowered) > 3 and lowered.endswith(("ies", "ves", "ses", "oes")):
        return True
    if lowered.endswith(("ses", "xes", "zes", "ches", "shes")):
        return True
    if lowered.endswith("s") and not lowered.endswith("ss"):
        stem = lowered[:-1]
        return len(stem) >= 2 and stem[-2:] in _PLURAL_BEFORE_S
    return False


def _by_suffix(word: str, lowered: str) -> str:
    if len(word) > 2 and lowered.endswith("is"):
        return word[:-2] + "es"
    if len(word) > 2 and lowered.endswith("us") and not lowered.endswith("ous"):
        return word + "es"
    if word.endswith("y"):
        return word + "s" if word[-2] in _VOWELS else word[:-1] + "ies"
    if word.endswith("o"):
        return word + ("es" if lowered in _O_TAKES_ES else "s")
    if lowered.endswith(_SIBILANTS):
        return word + "es"
    if lowered.endswith(("f", "fe")) and lowered not in _F_TAKES_S:
        return word[: -1 if lowered.endswith("f") else -2] + "ves"
    return word + "s"
