"""Contract compatibility: each breaking change kind is caught, additive changes pass."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import pytest
from pydantic import Field

from momentum.contracts.partitioning import PartitionKey
from momentum.contracts.topics import event_topic
from momentum.docs import build_catalog, compare_contracts, export_contracts

TYPE = "Shop.OrderPlaced"


@dataclass(frozen=True)
class Line:
    """A line.

    Attributes:
        sku: Stock keeping unit.
        quantity: Units.
    """

    sku: str
    quantity: int


@dataclass(frozen=True)
class LineWithoutQuantity:
    """A line that lost its quantity.

    Attributes:
        sku: Stock keeping unit.
    """

    sku: str


@event_topic("orders", domain="shop")
@dataclass(frozen=True)
class Base:
    """Published when an order is placed.

    Attributes:
        order_id: The order.
        shop_id: The shop.
        total: Amount due.
        status: Where it stands.
        lines: What was ordered.
        note: A note.
    """

    __message_type__ = TYPE
    order_id: Annotated[UUID, PartitionKey()]
    shop_id: UUID
    total: Decimal
    status: Literal["open", "paid"]
    lines: list[Line]
    note: str | None = None


def variant(name: str, topic: str = "orders", version: str = "v1", **fields: Any) -> type:
    """A copy of ``Base`` with the same wire type name and some fields replaced or removed."""
    annotations = dict(Base.__annotations__)
    defaults: dict[str, Any] = {"note": None}
    for field, spec in fields.items():
        if spec is None:
            annotations.pop(field)
            defaults.pop(field, None)
        elif isinstance(spec, tuple):
            annotations[field], defaults[field] = spec
        else:
            annotations[field] = spec
            defaults.pop(field, None)
    ordered = dict(sorted(annotations.items(), key=lambda item: item[0] in defaults))
    namespace: dict[str, Any] = {
        "__annotations__": ordered,
        "__doc__": Base.__doc__,
        "__message_type__": TYPE,
        "__module__": __name__,
        "__qualname__": name,
        **{k: v for k, v in defaults.items() if k in ordered},
    }
    cls = type(name, (), namespace)
    return event_topic(topic, domain="shop", version=version)(dataclass(frozen=True)(cls))


def contracts(*classes: type) -> dict[str, Any]:
    return export_contracts(build_catalog(list(classes), ["tests"]))


def diff(old: list[type], new: list[type]) -> set[tuple[bool, str, str | None]]:
    return {
        (c.breaking, c.code, c.path) for c in compare_contracts(contracts(*old), contracts(*new))
    }


KEY = Annotated[UUID, PartitionKey()]

BREAKING = [
    ("removed field", variant("NoTotal", total=None), {(True, "removed-field", "total")}),
    ("changed type", variant("TotalText", total=str), {(True, "changed-type", "total")}),
    (
        "new required field",
        variant("WithCurrency", currency=str),
        {(True, "new-required-field", "currency")},
    ),
    (
        "field now optional",
        variant("OptionalTotal", total=(Decimal, Decimal(0))),
        {(True, "field-now-optional", "total")},
    ),
    (
        "field now required",
        variant("RequiredNote", note=str | None),
        {(True, "field-now-required", "note")},
    ),
    (
        "nullable",
        variant("NullableTotal", total=Decimal | None),
        {(True, "changed-type", "total")},
    ),
    (
        "changed partition key",
        variant("KeyedByShop", order_id=UUID, shop_id=KEY),
        {(True, "changed-partition-key", None)},
    ),
    ("changed topic", variant("Purchases", topic="purchases"), {(True, "changed-topic", None)}),
    (
        "nested field removed",
        variant("ShortLines", lines=list[LineWithoutQuantity]),
        {(True, "removed-field", "lines[].quantity")},
    ),
    (
        "enum value added",
        variant("Refundable", status=Literal["open", "paid", "refunded"]),
        {(True, "changed-type", "status")},
    ),
    (
        "constraint changed",
        variant("ShortNote", note=(Annotated[str, Field(max_length=10)] | None, None)),
        {(True, "changed-constraint", "note")},
    ),
]


@pytest.mark.parametrize(("name", "new", "expected"), BREAKING, ids=[b[0] for b in BREAKING])
def test_each_breaking_change_is_caught(
    name: str, new: type, expected: set[tuple[bool, str, str | None]]
) -> None:
    assert diff([Base], [new]) == expected


def test_a_new_optional_field_is_safe_and_nothing_else() -> None:
    found = compare_contracts(contracts(Base), contracts(variant("Tipped", tip=(int | None, None))))
    assert [(c.breaking, c.code, c.path) for c in found] == [(False, "new-optional-field", "tip")]
    assert str(found[0]) == "safe [new-optional-field] tip is a new optional field."


def test_unchanged_and_documentation_only_changes_report_nothing() -> None:
    assert diff([Base], [Base]) == set()
    renamed = variant("SameContract")
    renamed.__doc__ = "Other words.\n\nAttributes:\n    order_id: Something else."
    assert diff([Base], [renamed]) == set()


def test_a_new_version_is_a_new_contract() -> None:
    assert diff([Base], [variant("V2", version="v2", total=None, note=str)]) == {
        (False, "new-version", None)
    }


@event_topic("audits", domain="shop")
@dataclass(frozen=True)
class Audited:
    """Published for auditors.

    Deprecated:
        Read OrderPlaced.

    Attributes:
        order_id: The order.
    """

    order_id: KEY


def test_removed_and_new_events() -> None:
    assert diff([Base], []) == {(True, "removed-event", None)}
    assert diff([Base, Audited], [Base]) == {(False, "removed-event", None)}  # was deprecated
    assert diff([Base], [Base, Audited]) == {(False, "new-event", None)}
    undeprecated = contracts(Audited)
    undeprecated["events"][0]["status"] = "active"
    changes = compare_contracts(undeprecated, contracts(Audited))
    assert [(c.breaking, c.code) for c in changes] == [(False, "deprecated")]


@dataclass(frozen=True)
class Node:
    """A tree node.

    Attributes:
        name: Its name.
        children: Its children.
    """

    name: str
    children: list[Node]


@dataclass(frozen=True)
class CountedNode:
    """A tree node with a size.

    Attributes:
        name: Its name.
        size: How big.
        children: Its children.
    """

    name: str
    size: int
    children: list[CountedNode]


def test_recursive_types_are_compared_once_per_level() -> None:
    old = variant("Tree", tree=Node)
    new = variant("CountedTree", tree=CountedNode)
    assert diff([old], [new]) == {(True, "new-required-field", "tree.size")}


def test_breaking_changes_come_first() -> None:
    changes = compare_contracts(
        contracts(Base), contracts(variant("Mixed", tip=(int | None, None), total=None))
    )
    assert [c.breaking for c in changes] == [True, False]
