"""What the catalog reads from the events: docstrings, topics, keys, problems, grouping."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

import pytest

from momentum.contracts.checks import Severity
from momentum.contracts.partitioning import PartitionKey
from momentum.contracts.topics import event_topic
from momentum.docs import Catalog, asyncapi_document, build_catalog
from momentum.docs.docstrings import class_doc
from momentum.docs.markdown import event_page, groups

from .support import catalog_of


class Wrapped:
    """A summary that is long enough to be
    wrapped onto a second line.

    A first paragraph
    of description.

    - a list item
    - another one

    Deprecated:
        Use Other, which
        carries more.

    Warning:
        Heavy.

    Attributes:
        value: A value.
    """


class Plain:
    """Only a summary."""


class Unparsable:
    """Summary survives.

    More text.

    Attributes:
        this entry has no colon
    """


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from typing_extensions import deprecated

    @deprecated("Gone soon.")
    class Marked:
        """Marked with the PEP 702 decorator."""


class Undocumented:
    pass


def test_summary_description_sections_and_deprecation() -> None:
    doc = class_doc(Wrapped)
    assert doc.summary == "A summary that is long enough to be wrapped onto a second line."
    assert doc.description == (
        "A first paragraph\nof description.\n\n- a list item\n- another one\n\n**Warning:** Heavy."
    )
    assert doc.deprecation == "Use Other, which carries more."
    assert doc.deprecated and doc.parse_error is None
    assert class_doc(Plain) == type(doc)("Only a summary.", None, None)


def test_pep_702_marker_and_missing_or_unparsable_docstrings() -> None:
    assert class_doc(Marked).deprecation == "Gone soon."
    assert class_doc(Undocumented) == type(class_doc(Plain))(None, None, None)
    fallback = class_doc(Unparsable)
    assert fallback.summary == "Summary survives."
    assert fallback.parse_error is not None and "colon" in fallback.parse_error
    assert fallback.description is not None and fallback.description.startswith("More text.")


@pytest.fixture(scope="module")
def shop() -> Catalog:
    return catalog_of(["momentum_docs_fixture"])


def test_topics_keys_and_groups(shop: Catalog) -> None:
    by_title = {doc.title: doc for doc in shop.events}
    placed = by_title["OrderPlaced"]
    assert placed.topic == "{env}.shop.public.orders.v1"
    assert placed.topics == (
        ("development", "dev.shop.public.orders.v1"),
        ("staging", "stag.shop.public.orders.v1"),
        ("production", "prod.shop.public.orders.v1"),
    )
    assert placed.partition_key == ("shopId", "orderId")
    assert (placed.domain, placed.subdomain, placed.status) == ("Shop", "orders", "active")
    audited = by_title["OrderAudited"]
    assert (audited.topic, audited.scope, audited.version) == (
        "{env}.shop.internal.order-audits",
        "internal",
        "",
    )
    assert (audited.status, by_title["OrderSubmitted"].status) == ("deprecated", "deprecated")
    assert by_title["OrderPacked"].topic is None
    assert [(d, [s for s, _ in subs]) for d, subs in groups(shop)] == [
        ("Billing", ["billing"]),
        ("Shop", ["orders"]),
    ]
    assert [doc.title for doc in shop.received] == ["InvoiceIssued", "OrderPlaced"]


def test_documentation_gaps_are_flagged(shop: Catalog) -> None:
    by_title = {doc.title: doc for doc in shop.events}
    packed = {(p.severity, p.code, p.field) for p in by_title["OrderPacked"].problems}
    assert packed == {
        (Severity.WARNING, "missing-docstring", None),
        (Severity.WARNING, "missing-field-description", "order_id"),
        (Severity.WARNING, "missing-field-description", "packer"),
    }
    issued = {(p.severity, p.code, p.field) for p in by_title["InvoiceIssued"].problems}
    assert issued == {(Severity.ERROR, "missing-field-description", "note")}  # as momentum check
    address = shop.types["momentum_docs_fixture.orders.integration_events.Address"]
    assert {(p.code, p.field) for p in address.problems} == {
        ("missing-docstring", None),
        ("missing-field-description", "street"),
        ("missing-field-description", "city"),
    }
    assert by_title["OrderPlaced"].problems == ()


class Opaque:
    """Not serializable."""


@event_topic("broken", domain="shop")
@dataclass(frozen=True)
class Broken:
    """An event pydantic cannot describe.

    Attributes:
        key: The key.
        thing: Something opaque.
    """

    key: Annotated[UUID, PartitionKey()]
    thing: Opaque


def test_an_event_without_schema_still_gets_a_page() -> None:
    catalog = build_catalog([Broken], ["tests"])
    [doc] = catalog.events
    assert doc.wire is None and doc.fields == () and doc.size is None
    assert [p.code for p in doc.problems] == ["not-json-serializable"]
    assert doc.topic == "{env}.shop.public.broken.v1"
    page = event_page(doc, catalog)
    assert "`not-json-serializable`" in page and "## Payload" not in page
    assert asyncapi_document(catalog, service="shop")["operations"] == {}
