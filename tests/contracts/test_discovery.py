from __future__ import annotations

from dataclasses import dataclass, make_dataclass

import pytest

from momentum.contracts.discovery import (
    EventInfo,
    MessageKind,
    defined_classes,
    discover_events,
    find_events,
    message_kind,
)
from momentum.contracts.errors import ConfigurationError
from momentum.contracts.messages import Command, Query
from momentum.contracts.topics import event_topic, topic_name

PACKAGE = "momentum_fixture_events"
CATALOG = f"{PACKAGE}.catalog"
ORDERS = f"{PACKAGE}.orders.integration_events"


@pytest.fixture(scope="module")
def events() -> dict[str, EventInfo]:
    return {info.name: info for info in discover_events([PACKAGE])}


def test_discovers_exactly_the_events(events: dict[str, EventInfo]) -> None:
    assert list(events) == [
        f"{CATALOG}.domain_events.StockReserved",
        f"{CATALOG}.domain_events.StockReleased",
        f"{CATALOG}.integration_events.ProductAdded",
        f"{CATALOG}.integration_events.ProductRemoved",
        f"{CATALOG}.integration_events.ProductRenamed",
        f"{ORDERS}.v1.OrderPlaced",
        f"{ORDERS}.v2.OrderPlaced",
    ]


@pytest.mark.parametrize(
    ("name", "kind", "topic", "key"),
    [
        (
            f"{CATALOG}.integration_events.ProductAdded",
            MessageKind.INTEGRATION_EVENT,
            "dev.shop.public.products.v1",
            ("shop_id",),
        ),
        (
            f"{CATALOG}.integration_events.ProductRemoved",
            MessageKind.INTEGRATION_EVENT,
            "dev.shop.public.products.v1",
            ("shop_id", "product_id"),
        ),
        (
            f"{CATALOG}.integration_events.ProductRenamed",
            MessageKind.INTEGRATION_EVENT,
            "dev.shop.public.products.v1",
            (),
        ),
        (
            f"{ORDERS}.v1.OrderPlaced",
            MessageKind.INTEGRATION_EVENT,
            "dev.shop.public.orders.v1",
            ("order_id",),
        ),
        (
            f"{ORDERS}.v2.OrderPlaced",
            MessageKind.INTEGRATION_EVENT,
            "dev.shop.public.orders.v2",
            ("order_id",),
        ),
        (f"{CATALOG}.domain_events.StockReserved", MessageKind.DOMAIN_EVENT, None, ()),
        (f"{CATALOG}.domain_events.StockReleased", MessageKind.DOMAIN_EVENT, None, ()),
    ],
)
def test_event_info(
    events: dict[str, EventInfo],
    name: str,
    kind: MessageKind,
    topic: str | None,
    key: tuple[str, ...],
) -> None:
    info = events[name]
    assert info.kind is kind
    assert info.type_name == name
    assert info.partition_key_fields == key
    assert info.partition_key_method is False
    if topic is None:
        assert info.topic is None
    else:
        assert info.topic is not None and info.topic.event_type is info.event_type
        assert topic_name(info.event_type, "development") == topic


def test_several_events_share_a_topic(events: dict[str, EventInfo]) -> None:
    products = {
        name
        for name, info in events.items()
        if info.topic is not None and topic_name(info.event_type, "prod").endswith(".products.v1")
    }
    assert len(products) == 3


def test_versions_side_by_side(events: dict[str, EventInfo]) -> None:
    v1, v2 = events[f"{ORDERS}.v1.OrderPlaced"], events[f"{ORDERS}.v2.OrderPlaced"]
    assert v1.event_type.__name__ == v2.event_type.__name__ == "OrderPlaced"
    assert v1.type_name != v2.type_name
    assert topic_name(v1.event_type, "dev") != topic_name(v2.event_type, "dev")


def test_supporting_types_enums_private_and_reimported_classes_are_not_events(
    events: dict[str, EventInfo],
) -> None:
    short = {name.rsplit(".", 1)[1] for name in events}
    assert short.isdisjoint({"Product", "Price", "ProductState", "_Internal", "Reservation"})
    # OrderPlaced is imported into catalog.integration_events but reported once per version
    assert [name for name in events if name.endswith("OrderPlaced")] == [
        f"{ORDERS}.v1.OrderPlaced",
        f"{ORDERS}.v2.OrderPlaced",
    ]


def test_commands_queries_and_models_are_not_events(events: dict[str, EventInfo]) -> None:
    assert not any(name.endswith(("AddProduct", "GetProduct", "OrderLine")) for name in events)


def test_defined_classes_skip_imported_ones() -> None:
    import momentum_fixture_events.orders.handlers as handlers

    assert defined_classes([handlers]) == []


def test_example_application() -> None:
    infos = discover_events(["app_domain"])
    integration = {
        info.event_type.__name__: info
        for info in infos
        if info.kind is MessageKind.INTEGRATION_EVENT
    }
    assert set(integration) == {
        "CashierCreated",
        "CashierUpdated",
        "CashierDeleted",
        "InvoiceCreated",
        "InvoicePaid",
        "InvoiceCancelled",
        "PaymentReceived",
    }
    assert {info.partition_key_fields for info in integration.values()} == {("tenant_id",)}


def test_unknown_package_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="momentum_fixture_does_not_exist"):
        discover_events(["momentum_fixture_does_not_exist"])


def _cls(module: str, name: str = "Thing", *bases: type) -> type:
    return type(name, bases, {"__module__": module})


@dataclass(frozen=True)
class AnyCommand(Command[None]):
    pass


@dataclass(frozen=True)
class AnyQuery(Query[int]):
    pass


@event_topic("elsewhere", domain="AppDomain")
@dataclass(frozen=True)
class DecoratedElsewhere:
    value: int


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        (_cls("app.cashiers.integration_events"), MessageKind.INTEGRATION_EVENT),
        (_cls("app.cashiers.integration_events.v2"), MessageKind.INTEGRATION_EVENT),
        (_cls("integration_events"), MessageKind.INTEGRATION_EVENT),
        (_cls("app.cashiers.contracts.integration_events"), MessageKind.INTEGRATION_EVENT),
        (_cls("app.cashiers.domain_events"), MessageKind.DOMAIN_EVENT),
        (_cls("app.domain_events.cashiers"), MessageKind.DOMAIN_EVENT),
        (_cls("app.cashiers.integration_events_old"), MessageKind.OTHER),
        (_cls("app.cashiers.my_domain_events"), MessageKind.OTHER),
        (_cls("app.cashiers.events"), MessageKind.OTHER),
        (_cls("app.integration_events", "Create", Command), MessageKind.COMMAND),
        (AnyCommand, MessageKind.COMMAND),
        (AnyQuery, MessageKind.QUERY),
        (DecoratedElsewhere, MessageKind.INTEGRATION_EVENT),
    ],
)
def test_message_kind(cls: type, kind: MessageKind) -> None:
    assert message_kind(cls) is kind


def test_find_events_on_arbitrary_classes() -> None:
    module = "app.integration_events"
    entity = make_dataclass("Entity", [("value", int)], frozen=True)
    happened = make_dataclass("Happened", [("entity", list[entity] | None)], frozen=True)
    unrelated = make_dataclass("Unrelated", [("value", int)], frozen=True)
    for cls in (entity, happened, unrelated):
        cls.__module__ = module
    names = [info.event_type.__name__ for info in find_events([entity, happened, unrelated])]
    assert names == ["Happened", "Unrelated"]
