"""What a class docstring says about a contract: summary, description, deprecation.

Google-style docstrings are parsed with `docstring-parser`_, which is told about the sections
it does not know by itself (``Deprecated:``, ``Note:``, ``Warning:``, ``See Also:`` ...) so
that their text is neither lost nor mistaken for the description. Field descriptions are not
read here: they come from :func:`momentum.contracts.checks.field_description`, the lookup
``momentum check`` uses, so a catalog page and the check never disagree about a field.

An event is *deprecated* when its docstring has a ``Deprecated:`` section (its text says what
to use instead) or when it carries ``__deprecated__``, the attribute set by the PEP 702
decorator (``typing_extensions.deprecated`` / ``warnings.deprecated``). The section is the
recommended way: it has no run-time effect, whereas the decorator warns on every
instantiation, which includes every decoded message.

.. _docstring-parser: https://pypi.org/project/docstring-parser/
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Final

try:
    from docstring_parser import ParseError, google
except ImportError as exc:  # pragma: no cover - the docs extra is part of the cli extra
    raise ImportError(
        "momentum.docs needs docstring-parser: pip install 'momentum-messaging[docs]'",
        name=exc.name,
    ) from exc

from momentum.contracts.checks import own_docstring

_DEPRECATION: Final = "deprecation"
_NOTES: Final = {
    "Note": "Note",
    "Notes": "Note",
    "Warning": "Warning",
    "Warnings": "Warning",
    "See Also": "See also",
    "Todo": "To do",
    "References": "References",
}
_PARSER: Final = google.GoogleParser(
    sections=[
        *google.DEFAULT_SECTIONS,
        google.Section("Deprecated", _DEPRECATION, google.SectionType.SINGULAR),
        *(
            google.Section(title, f"note:{label}", google.SectionType.SINGULAR)
            for title, label in _NOTES.items()
        ),
    ]
)


@dataclass(frozen=True, slots=True)
class ClassDoc:
    """The prose of one class's own docstring.

    Attributes:
        summary: The first paragraph (``None`` without a docstring).
        description: The paragraphs after it and before the first section, then the
            ``Note:``/``Warning:``/``See Also:`` sections as ``**Note:** ...`` paragraphs;
            ``None`` when there are none.
        deprecation: ``None`` for an active class; otherwise the text of its ``Deprecated:``
            section or of its PEP 702 ``__deprecated__`` message (``""`` when it says nothing).
        parse_error: Why docstring-parser could not read the docstring (the summary and
            description are then its first paragraph and the rest), else ``None``.
    """

    summary: str | None
    description: str | None
    deprecation: str | None
    parse_error: str | None = None

    @property
    def deprecated(self) -> bool:
        """Whether the class is deprecated."""
        return self.deprecation is not None


def _paragraphs(text: str) -> list[str]:
    """The non-empty paragraphs of ``text``, each stripped (line breaks inside are kept)."""
    return [block.strip() for block in text.strip().split("\n\n") if block.strip()]


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _marker_deprecation(cls: type) -> str | None:
    value = cls.__dict__.get("__deprecated__")
    if value is None or value is False:
        return None
    return value.strip() if isinstance(value, str) else ""


def class_doc(cls: type) -> ClassDoc:
    """Summary, description and deprecation of ``cls`` from its own docstring."""
    marker = _marker_deprecation(cls)
    doc = own_docstring(cls)
    if doc is None:
        return ClassDoc(None, None, marker)
    text = inspect.cleandoc(doc)
    try:
        parsed = _PARSER.parse(text)
    except ParseError as exc:
        paragraphs = _paragraphs(text)
        return ClassDoc(
            _one_line(paragraphs[0]) if paragraphs else None,
            "\n\n".join(paragraphs[1:]) or None,
            marker,
            parse_error=str(exc),
        )
    # docstring-parser takes the first line as the summary: a wrapped summary continues in
    # the long description, without a blank line between them
    prose = (parsed.short_description or "") + (
        "\n\n" if parsed.blank_after_short_description else "\n"
    )
    paragraphs = _paragraphs(prose + (parsed.long_description or ""))
    deprecation = marker
    notes: list[str] = []
    for meta in parsed.meta:
        key = meta.args[0] if meta.args else ""
        body = _one_line(meta.description or "")
        if key == _DEPRECATION:
            deprecation = body
        elif key.startswith("note:") and body:
            notes.append(f"**{key.removeprefix('note:')}:** {body}")
    description = "\n\n".join([*paragraphs[1:], *notes]) or None
    return ClassDoc(_one_line(paragraphs[0]) if paragraphs else None, description, deprecation)
