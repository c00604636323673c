"""The payload schema describes what the codec writes; examples are valid payloads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import Field

from momentum.contracts.serialization import CASINGS, Casing, codec
from momentum.docs.schemas import X_PYTHON_TYPE, wire_schema

from .support import catalog_of

PACKAGES = ["app_domain", "momentum_docs_fixture"]


def events(casing: Casing = "camel") -> list[Any]:
    return [doc for doc in catalog_of(PACKAGES, casing).events if doc.wire is not None]


def ids(docs: list[Any]) -> list[str]:
    return [doc.title for doc in docs]


@pytest.mark.filterwarnings("ignore:Use OrderPlaced:DeprecationWarning")  # PEP 702 marker
@pytest.mark.parametrize("casing", CASINGS)
def test_the_example_round_trips_through_the_codec_and_matches_the_schema(
    casing: Casing,
) -> None:
    docs = events(casing)
    assert len(docs) == 13
    for doc in docs:
        wire_codec = codec(doc.info.event_type, casing)
        instance = wire_codec.decode(json.dumps(doc.example))  # a valid payload...
        written = json.loads(wire_codec.encode(instance))
        assert written == doc.example, doc.title  # ...in wire form, property for property
        validator = Draft202012Validator(
            doc.wire.schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        assert list(validator.iter_errors(written)) == [], doc.title


def test_property_names_follow_the_casing() -> None:
    by_casing = {casing: {d.title: d for d in events(casing)} for casing in CASINGS}
    assert list(by_casing["camel"]["OrderPlaced"].wire.schema["properties"])[:3] == [
        "shopId",
        "orderId",
        "placedAt",
    ]
    assert list(by_casing["snake"]["OrderPlaced"].wire.schema["properties"])[:3] == [
        "shop_id",
        "order_id",
        "placed_at",
    ]
    pascal = by_casing["pascal"]["OrderPlaced"]
    assert pascal.partition_key == ("ShopId", "OrderId")
    assert pascal.wire.defs["Line"]["required"] == ["Sku", "Quantity", "UnitPrice"]


def test_schema_is_annotated_from_the_docstrings() -> None:
    doc = {d.title: d for d in events()}["OrderPlaced"]
    schema = doc.wire.schema
    assert schema[X_PYTHON_TYPE] == "momentum_docs_fixture.orders.integration_events.OrderPlaced"
    assert schema["description"].startswith(
        "Published when a customer places an order, once it is paid.\n\nThe order is ready"
    )
    assert "Attributes" not in schema["description"]
    assert schema["properties"]["shopId"] == {
        "type": "string",
        "format": "uuid",
        "description": "Shop that took the order.",
    }
    line = doc.wire.defs["Line"]
    assert line["properties"]["unitPrice"] == {
        "type": "number",
        "format": "decimal",
        "description": "Price of one unit, in the shop's currency.",
    }
    assert line["properties"]["sku"]["maxLength"] == 12
    assert all("title" not in prop for prop in line["properties"].values())
    audited = {d.title: d for d in events()}["OrderAudited"]
    assert audited.wire.schema["deprecated"] is True


@dataclass(frozen=True)
class WithAlias:
    """A field with an explicit pydantic alias keeps it on the wire.

    Attributes:
        customer_ref: Reference of the customer.
    """

    customer_ref: Annotated[str, Field(serialization_alias="custRef")]


def test_an_explicit_alias_is_the_wire_name() -> None:
    found = wire_schema(WithAlias, "camel")
    assert list(found.schema["properties"]) == ["custRef"]
    assert found.wire_names[f"{__name__}.WithAlias"] == {"customer_ref": "custRef"}
    assert json.loads(codec(WithAlias).encode(WithAlias("c-1"))) == {"custRef": "c-1"}
