"""``momentum check`` flags undocumented types carried by integration events, as warnings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from typer.testing import CliRunner

import momentum.cli  # noqa: F401 - registers the commands on the app
from momentum.cli.app import app
from momentum.contracts.checks import Severity, check_classes, check_events, nested_types
from momentum.contracts.partitioning import PartitionKey
from momentum.contracts.topics import event_topic

ADDRESS = "momentum_docs_fixture.orders.integration_events.Address"


@dataclass(frozen=True)
class Undocumented:
    value: str


@dataclass(frozen=True)
class Wrapper:
    """Wraps.

    Attributes:
        inner: The inner one.
        others: More of them.
    """

    inner: Undocumented
    others: list[Undocumented] | None


@event_topic("wrapped", domain="shop")
@dataclass(frozen=True)
class WrappedEvent:
    """Carries a documented type that carries an undocumented one.

    Attributes:
        key: The key.
        wrapper: The wrapper.
    """

    key: Annotated[UUID, PartitionKey()]
    wrapper: Wrapper


def test_nested_types_are_found_at_any_depth_once() -> None:
    assert nested_types(WrappedEvent) == [Wrapper, Undocumented]


def test_undocumented_nested_types_are_warnings() -> None:
    problems = check_classes([WrappedEvent, Wrapper, Undocumented])
    assert {(p.severity, p.code, p.class_name.rsplit(".", 1)[-1], p.field) for p in problems} == {
        (Severity.WARNING, "missing-docstring", "Undocumented", None),
        (Severity.WARNING, "missing-field-description", "Undocumented", "value"),
    }
    assert "(carried by WrappedEvent)" in problems[0].message


def test_the_cli_reports_them_and_counts_them_apart() -> None:
    assert {
        (p.severity, p.code, p.field)
        for p in check_events(["momentum_docs_fixture"])
        if p.class_name == ADDRESS
    } == {
        (Severity.WARNING, "missing-docstring", None),
        (Severity.WARNING, "missing-field-description", "street"),
        (Severity.WARNING, "missing-field-description", "city"),
    }
    result = CliRunner().invoke(app, ["check", "momentum_docs_fixture"])
    assert result.exit_code == 1  # InvoiceIssued.note is an error of the event itself
    assert f"{ADDRESS}\n  warning [missing-docstring] {ADDRESS} (carried by OrderPlaced)" in (
        result.stdout
    )
    assert "4 problem(s) in 1 of 5 event(s) and 1 type(s) they carry in" in result.stdout
