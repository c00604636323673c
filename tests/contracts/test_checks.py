from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from momentum.contracts.checks import (
    Problem,
    Severity,
    check_events,
    documented_attributes,
    own_docstring,
)

PACKAGE = "momentum_fixture_problems"
EVENTS = f"{PACKAGE}.integration_events"
DOMAIN = f"{PACKAGE}.domain_events"

EXPECTED = {
    ("not-frozen", f"{DOMAIN}.MutableDomainEvent", None),
    ("partition-key-unsupported-type", f"{DOMAIN}.DomainBadKey", "at"),
    ("missing-docstring", f"{EVENTS}.NoDocstring", None),
    ("missing-field-description", f"{EVENTS}.NoDocstring", "first"),
    ("missing-field-description", f"{EVENTS}.NoDocstring", "second"),
    ("missing-field-description", f"{EVENTS}.PartlyDescribed", "empty"),
    ("missing-field-description", f"{EVENTS}.PartlyDescribed", "undocumented"),
    ("missing-event-topic", f"{EVENTS}.Undecorated", None),
    ("not-frozen", f"{EVENTS}.Mutable", None),
    ("missing-event-topic", f"{EVENTS}.Mutable", None),
    ("partition-key-not-a-field", f"{EVENTS}.BadKeyField", "shared"),
    ("missing-event-topic", f"{EVENTS}.BadKeyField", None),
    ("partition-key-unsupported-type", f"{EVENTS}.BadKeyType", "amount"),
    ("missing-event-topic", f"{EVENTS}.BadKeyType", None),
    ("not-json-serializable", f"{EVENTS}.NotSerializable", "callback"),
    ("not-json-serializable", f"{EVENTS}.NotSerializable", "thing"),
    ("invalid-message-type", f"{EVENTS}.BadTypeName", None),
    ("unresolvable-annotation", f"{EVENTS}.Dangling", None),
    ("missing-field-description", f"{EVENTS}.ModelEvent", "undescribed"),
    ("not-frozen", f"{EVENTS}.MutableModel", None),
    ("missing-event-topic", f"{EVENTS}.MutableModel", None),
    ("duplicate-type-name", f"{EVENTS}.DuplicateA", None),
}


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    return check_events([PACKAGE])


def test_every_problem_is_found_and_nothing_else(problems: list[Problem]) -> None:
    found = [(p.code, p.class_name, p.field) for p in problems]
    assert len(found) == len(set(found))
    assert set(found) == EXPECTED


@pytest.mark.parametrize(
    ("code", "class_name", "field"), sorted(EXPECTED, key=lambda e: (e[1], e[0], e[2] or ""))
)
def test_messages_name_the_class_and_field(
    problems: list[Problem], code: str, class_name: str, field: str | None
) -> None:
    [problem] = [
        p for p in problems if (p.code, p.class_name, p.field) == (code, class_name, field)
    ]
    assert problem.severity is Severity.ERROR
    assert class_name in problem.message
    if field is not None:
        assert f"{class_name.rsplit('.', 1)[1]}.{field}" in problem.message
    assert str(problem) == f"error [{code}] {problem.message}"
    assert problem.to_dict() == {
        "severity": "error",
        "code": code,
        "class": class_name,
        "field": field,
        "message": problem.message,
    }


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("missing-docstring", "'Attributes:'"),
        ("missing-field-description", "Field(description=...)"),
        ("missing-event-topic", "@event_topic(Entity)"),
        ("not-frozen", "frozen"),
        ("partition-key-not-a-field", "mark one of its fields"),
        ("partition-key-unsupported-type", "partition_key(self) -> str"),
        ("not-json-serializable", "JSON-friendly types"),
        ("invalid-message-type", "non-empty string"),
        ("unresolvable-annotation", "Import the names"),
        ("duplicate-type-name", "distinct __message_type__"),
    ],
)
def test_messages_say_how_to_fix(problems: list[Problem], code: str, hint: str) -> None:
    assert all(hint in p.message for p in problems if p.code == code)


def test_duplicate_names_both_classes(problems: list[Problem]) -> None:
    [problem] = [p for p in problems if p.code == "duplicate-type-name"]
    assert "'Problems.Duplicate'" in problem.message and "DuplicateB" in problem.message


def test_example_application_is_clean() -> None:
    assert check_events(["app_domain"]) == []


def test_other_clean_fixtures() -> None:
    assert check_events(["momentum_fixture_events", "momentum_fixture_domain"]) == []


DOCSTRING_CASES: list[tuple[str, dict[str, str]]] = [
    ("No attributes here.", {}),
    (
        """Summary.

        Attributes:
            first: The first.
            second: The second.
        """,
        {"first": "The first.", "second": "The second."},
    ),
    (
        """Summary.

        Attributes:
            typed (int): With a type.
            optional (str | None): Optional.
        """,
        {"typed": "With a type.", "optional": "Optional."},
    ),
    (
        """Summary.

        Attributes:
            long: Starts here
                and continues here.

            after_blank: Still in the section.
        """,
        {"long": "Starts here and continues here.", "after_blank": "Still in the section."},
    ),
    (
        """Summary.

        Attributes:
            kept: Yes.

        Args:
            dropped: Another section.
        """,
        {"kept": "Yes."},
    ),
    (
        """Summary.

        Attributes:
            empty:
            filled: Yes.
        """,
        {"empty": "", "filled": "Yes."},
    ),
    (
        """Attributes:
            first_line: Section right at the top.
        """,
        {"first_line": "Section right at the top."},
    ),
    (
        """Summary mentioning Attributes: inline is not a section.

            indented: Not an entry.
        """,
        {},
    ),
]


@pytest.mark.parametrize(("docstring", "expected"), DOCSTRING_CASES)
def test_documented_attributes(docstring: str, expected: dict[str, str]) -> None:
    assert documented_attributes(docstring) == expected


def test_own_docstring_ignores_the_one_dataclass_generates() -> None:
    @dataclass(frozen=True)
    class Bare:
        value: int

    @dataclass(frozen=True)
    class Documented:
        """Real."""

        value: int

    class Child(Documented):
        pass

    assert Bare.__doc__ and own_docstring(Bare) is None
    assert own_docstring(Documented) == "Real."
    assert own_docstring(Child) is None
    assert dataclasses.is_dataclass(Child)
