from __future__ import annotations

import dataclasses
import importlib
import re
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict

from momentum.contracts.errors import (
    ConfigurationError,
    ContractError,
    InvalidDomainError,
    InvalidEventClassError,
    InvalidPartitionKeyError,
    InvalidTopicError,
    InvalidVersionError,
    MissingEventTopicError,
    MomentumError,
)
from momentum.contracts.partitioning import PartitionKey
from momentum.contracts.topics import (
    EventTopic,
    event_domain,
    event_topic,
    get_event_topic,
    package_domain,
    topic_name,
)


class UserAccount:
    pass


class Person:
    pass


class Business:
    pass


class HTTPRequest:
    pass


class Category:
    pass


class Sheep:
    pass


class Cashier:
    pass


class Café:  # a non-ASCII class name gives a topic Kafka does not allow
    pass


def make_event(name: str = "SomethingHappened", module: str | None = None) -> type:
    """A fresh frozen dataclass event class (optionally claiming to live in ``module``)."""
    cls = dataclasses.make_dataclass(name, [("tenant_id", str)], frozen=True)
    cls.__module__ = module or __name__
    return cls


# (decorator args, decorator kwargs, expected topic part, expected full name in development)
TOPIC_CASES: list[tuple[tuple[Any, ...], dict[str, Any], str, str]] = [
    ((UserAccount,), {}, "user-accounts", "dev.appdomain.public.user-accounts.v1"),
    ((Person,), {}, "people", "dev.appdomain.public.people.v1"),
    ((Business,), {}, "businesses", "dev.appdomain.public.businesses.v1"),
    ((HTTPRequest,), {}, "http-requests", "dev.appdomain.public.http-requests.v1"),
    ((Category,), {}, "categories", "dev.appdomain.public.categories.v1"),
    ((Sheep,), {}, "sheep", "dev.appdomain.public.sheep.v1"),
    ((Cashier,), {"pluralize": False}, "cashier", "dev.appdomain.public.cashier.v1"),
    (("cashier",), {}, "cashier", "dev.appdomain.public.cashier.v1"),
    ((), {"topic": "cashier"}, "cashier", "dev.appdomain.public.cashier.v1"),
    (("cashier",), {"pluralize": True}, "cashiers", "dev.appdomain.public.cashiers.v1"),
    (("cashiers",), {"pluralize": True}, "cashiers", "dev.appdomain.public.cashiers.v1"),
    ((Cashier,), {"topic": "tills"}, "tills", "dev.appdomain.public.tills.v1"),
    ((Cashier,), {"topic": "till"}, "till", "dev.appdomain.public.till.v1"),
    ((Cashier,), {"topic": "till", "pluralize": True}, "tills", "dev.appdomain.public.tills.v1"),
    (("Cashier.Events",), {}, "Cashier.Events", "dev.appdomain.public.cashier.events.v1"),
    (("user_accounts",), {}, "user_accounts", "dev.appdomain.public.user_accounts.v1"),
    ((Cashier,), {"version": "v2"}, "cashiers", "dev.appdomain.public.cashiers.v2"),
    ((Cashier,), {"version": "V3"}, "cashiers", "dev.appdomain.public.cashiers.v3"),
    ((Cashier,), {"version": "v10"}, "cashiers", "dev.appdomain.public.cashiers.v10"),
    ((Cashier,), {"version": ""}, "cashiers", "dev.appdomain.public.cashiers"),
    ((Cashier,), {"version": None}, "cashiers", "dev.appdomain.public.cashiers"),
    ((Cashier,), {"internal": True}, "cashiers", "dev.appdomain.internal.cashiers.v1"),
    (
        (Cashier,),
        {"internal": True, "version": None},
        "cashiers",
        "dev.appdomain.internal.cashiers",
    ),
]


@pytest.mark.parametrize(("args", "kwargs", "topic", "full"), TOPIC_CASES)
def test_event_topic(args: tuple[Any, ...], kwargs: dict[str, Any], topic: str, full: str) -> None:
    event = event_topic(*args, domain="AppDomain", **kwargs)(make_event())
    metadata = get_event_topic(event)
    assert metadata is not None
    assert metadata.topic == topic
    assert topic_name(event, "development") == full


# Entity names whose topic Momentum .NET computes differently from a dictionary pluralizer: .NET
# pluralizes the whole kebab-case name with its own word lists and suffix rules.
@pytest.mark.parametrize(
    ("entity", "topic"),
    [
        ("Glass", "glass"),
        ("Currency", "currency"),
        ("SearchIndex", "search-indexes"),
        ("Index", "indices"),
        ("SalesPerson", "sales-persons"),
        ("Person", "people"),
        ("Quiz", "quizes"),
        ("Formula", "formulae"),
        ("Metadata", "metadatas"),
        ("Feedback", "feedbacks"),
        ("Cargo", "cargos"),
        ("Agenda", "agendas"),
        ("OrderCompleted", "order-completed"),
        ("UserAccount", "user-accounts"),
    ],
)
def test_entity_topics_are_pluralized_like_dotnet(entity: str, topic: str) -> None:
    event = event_topic(type(entity, (), {}), domain="AppDomain")(make_event())
    assert topic_name(event, "development") == f"dev.appdomain.public.{topic}.v1"


@pytest.mark.parametrize(
    ("environment", "domain", "expected"),
    [
        ("development", "AppDomain", "dev.appdomain.public.cashiers.v1"),
        ("Development", "AppDomain", "dev.appdomain.public.cashiers.v1"),
        ("production", "AppDomain", "prod.appdomain.public.cashiers.v1"),
        ("staging", "AppDomain", "stag.appdomain.public.cashiers.v1"),
        ("test", "AppDomain", "test.appdomain.public.cashiers.v1"),
        ("qa", "App_Domain", "qa.app_domain.public.cashiers.v1"),
        ("local", "app-domain", "loca.app-domain.public.cashiers.v1"),
    ],
)
def test_topic_name_environment_and_domain(environment: str, domain: str, expected: str) -> None:
    event = event_topic(Cashier, domain=domain)(make_event())
    assert topic_name(event, environment) == expected


def test_metadata_is_inspectable_and_frozen() -> None:
    event = event_topic(Cashier, domain="AppDomain", version="V2", internal=True)(make_event())
    metadata = get_event_topic(event)
    assert metadata == EventTopic(
        event_type=event,
        topic="cashiers",
        domain="AppDomain",
        version="v2",
        internal=True,
        entity=Cashier,
        pluralized=True,
    )
    assert metadata.scope == "internal"
    with pytest.raises(dataclasses.FrozenInstanceError):
        metadata.topic = "other"  # type: ignore[misc]


def test_domain_is_none_when_not_declared() -> None:
    event = event_topic("cashiers")(make_event())
    metadata = get_event_topic(event)
    assert metadata is not None and metadata.domain is None and metadata.entity is None
    assert metadata.pluralized is False and metadata.scope == "public"


def test_get_event_topic_is_not_inherited_and_accepts_instances() -> None:
    event = event_topic("cashiers", domain="AppDomain")(make_event())

    @dataclass(frozen=True)
    class Derived(event):  # type: ignore[valid-type, misc]
        pass

    assert get_event_topic(Derived) is None
    assert get_event_topic(make_event()) is None
    assert get_event_topic(event(tenant_id="t")) is get_event_topic(event)  # type: ignore[call-arg]
    assert topic_name(event(tenant_id="t"), "development") == topic_name(event, "development")  # type: ignore[call-arg]


def test_frozen_pydantic_model() -> None:
    @event_topic(Cashier, domain="AppDomain")
    class CashierRenamed(BaseModel):
        model_config = ConfigDict(frozen=True)
        tenant_id: Annotated[str, PartitionKey()]

    assert topic_name(CashierRenamed, "production") == "prod.appdomain.public.cashiers.v1"
    assert get_event_topic(CashierRenamed) is not None
    CashierRenamed(tenant_id="t")  # still a working model


def test_shared_topic() -> None:
    first = event_topic(Cashier, domain="AppDomain")(make_event("CashierCreated"))
    second = event_topic(Cashier, domain="AppDomain")(make_event("CashierDeleted"))
    assert (
        topic_name(first, "dev") == topic_name(second, "dev") == "dev.appdomain.public.cashiers.v1"
    )


def test_undecorated_class_has_no_topic_name() -> None:
    event = make_event("NotAnIntegrationEvent")
    with pytest.raises(MissingEventTopicError, match=r"NotAnIntegrationEvent.*@event_topic"):
        topic_name(event, "development")


@pytest.mark.parametrize("environment", ["", "qa.1", "dé", "a b"])
def test_invalid_environment(environment: str) -> None:
    event = event_topic(Cashier, domain="AppDomain")(make_event("EnvEvent"))
    with pytest.raises(ConfigurationError, match=r"environment.*EnvEvent"):
        topic_name(event, environment)


# Domain resolution: decorator, else the nearest __domain__, else the top-level package name.
@pytest.mark.parametrize(
    ("module", "name", "expected"),
    [
        (
            "momentum_fixture_domain.payments.integration_events",
            "PaymentReceived",
            "dev.billing.public.payments.v1",
        ),
        (
            "momentum_fixture_domain.payments.refund_events",
            "RefundIssued",
            "dev.refunds.public.refunds.v1",
        ),
        (
            "momentum_fixture_domain.ledger.integration_events",
            "EntryPosted",
            "dev.ledger.public.entries.v1",
        ),
        (
            "momentum_fixture_domain.ledger.integration_events",
            "EntryAudited",
            "dev.audit.internal.entries.v2",
        ),
        (
            "momentum_fixture_plain_pkg.orders.integration_events",
            "OrderPlaced",
            "dev.momentumfixtureplainpkg.public.orders.v1",
        ),
    ],
)
def test_domain_resolution(module: str, name: str, expected: str) -> None:
    event = getattr(importlib.import_module(module), name)
    assert topic_name(event, "development") == expected


@pytest.mark.parametrize(
    ("module", "domain", "source"),
    [
        (
            "momentum_fixture_domain.payments.integration_events",
            "Billing",
            "momentum_fixture_domain",
        ),
        ("momentum_fixture_domain.ledger.integration_events", "Ledger", "ledger"),
        ("momentum_fixture_plain_pkg.orders.integration_events", "momentumfixtureplainpkg", "top"),
        ("app_domain.cashiers.contracts.integration_events", "appdomain", "top-level"),
        ("not_imported_at_all.sub", "notimportedatall", "top-level"),
    ],
)
def test_package_domain(module: str, domain: str, source: str) -> None:
    if not module.startswith("not_imported"):
        importlib.import_module(module)
    found, where = package_domain(module)
    assert found == domain
    assert source in where


def test_event_domain_of_undecorated_class_uses_its_package() -> None:
    importlib.import_module("momentum_fixture_domain")
    event = make_event("Anything", module="momentum_fixture_domain.anything")
    assert event_domain(event) == "Billing"


def test_example_application_topics() -> None:
    from app_domain.cashiers.contracts import integration_events as cashiers
    from app_domain.invoices.contracts import integration_events as invoices

    for event in (cashiers.CashierCreated, cashiers.CashierUpdated, cashiers.CashierDeleted):
        assert topic_name(event, "development") == "dev.appdomain.public.cashiers.v1"
    for event in (invoices.InvoiceCreated, invoices.InvoicePaid, invoices.InvoiceCancelled):
        assert topic_name(event, "production") == "prod.appdomain.public.invoices.v1"
    assert topic_name(invoices.PaymentReceived, "production") == "prod.appdomain.public.payments.v1"


# --- every bad declaration fails when the decorator runs, naming the class ---------------


def not_a_class() -> None:
    pass


@dataclass
class Mutable:
    tenant_id: str


class Plain:
    tenant_id: str


class MutableModel(BaseModel):
    tenant_id: str


@dataclass(frozen=True)
class WithFloatKey:
    amount: Annotated[float, PartitionKey()]


BAD_DECLARATIONS: list[tuple[str, Any, dict[str, Any], type[ContractError], list[str]]] = [
    ("not a class", not_a_class, {}, InvalidEventClassError, ["must decorate a class"]),
    ("mutable dataclass", Mutable, {}, InvalidEventClassError, ["Mutable", "frozen=True"]),
    ("plain class", Plain, {}, InvalidEventClassError, ["Plain", "above @dataclass"]),
    ("mutable model", MutableModel, {}, InvalidEventClassError, ["MutableModel", "ConfigDict"]),
    ("empty domain", None, {"domain": ""}, InvalidDomainError, ["domain=''", "empty"]),
    ("dotted domain", None, {"domain": "app.domain"}, InvalidDomainError, ["'.'", "AppDomain"]),
    ("digit domain", None, {"domain": "1app"}, InvalidDomainError, ["start with a letter"]),
    ("spaced domain", None, {"domain": "app domain"}, InvalidDomainError, ["' '"]),
    ("version 1", None, {"version": "1"}, InvalidVersionError, ["version='1'", "'v1'"]),
    ("version v1.1", None, {"version": "v1.1"}, InvalidVersionError, ["'v1.1'"]),
    ("version v", None, {"version": "v"}, InvalidVersionError, ["version=None"]),
    ("version word", None, {"version": "version1"}, InvalidVersionError, ["'version1'"]),
    ("version int", None, {"version": 1}, InvalidVersionError, ["version=1"]),
    ("empty topic", None, {"topic": ""}, InvalidTopicError, ["topic is empty"]),
    ("space in topic", None, {"topic": "cashier events"}, InvalidTopicError, ["' '", "Kafka"]),
    ("slash in topic", None, {"topic": "cashier/events"}, InvalidTopicError, ["'/'"]),
    ("accent in topic", None, {"topic": "cafés"}, InvalidTopicError, ["'é'"]),
    ("entity not ascii", None, {"entity": Café}, InvalidTopicError, ["'é'", "ASCII"]),
    ("leading dot", None, {"topic": ".cashiers"}, InvalidTopicError, ["empty '.'-separated"]),
    ("double dot", None, {"topic": "a..b"}, InvalidTopicError, ["empty '.'-separated"]),
    ("twice", None, {"entity": "a", "topic": "b"}, InvalidTopicError, ["given twice"]),
    ("no topic", None, {"entity": None}, InvalidTopicError, ["no topic", "@event_topic(Cashier)"]),
    ("number", None, {"entity": 42}, InvalidTopicError, ["entity class or a topic name"]),
    ("too long", None, {"topic": "x" * 240}, InvalidTopicError, ["Kafka allows 249"]),
    ("internal str", None, {"internal": "yes"}, ContractError, ["internal must be True or False"]),
    ("pluralize str", None, {"pluralize": "yes"}, ContractError, ["pluralize must be True"]),
    ("float key", WithFloatKey, {}, InvalidPartitionKeyError, ["WithFloatKey.amount", "float"]),
]


@pytest.mark.parametrize(
    ("case", "target", "kwargs", "error", "fragments"),
    BAD_DECLARATIONS,
    ids=[case[0] for case in BAD_DECLARATIONS],
)
def test_bad_declarations_fail_at_decoration(
    case: str,
    target: Any,
    kwargs: dict[str, Any],
    error: type[ContractError],
    fragments: list[str],
) -> None:
    target = target if target is not None else make_event("BadlyDeclared")
    entity = kwargs.pop("entity", Cashier)
    kwargs.setdefault("domain", "AppDomain")
    with pytest.raises(error) as caught:
        event_topic(entity, **kwargs)(target)
    message = str(caught.value)
    assert isinstance(caught.value, ContractError) and isinstance(caught.value, MomentumError)
    if isinstance(target, type):
        assert target.__qualname__ in message
    for fragment in fragments:
        assert fragment in message


def test_decorator_order_matters() -> None:
    with pytest.raises(InvalidEventClassError, match=r"Reversed.*@event_topic.*above"):

        @dataclass(frozen=True)
        @event_topic(Cashier, domain="AppDomain")
        class Reversed:
            tenant_id: str


def test_invalid_package_domain_fails_at_decoration() -> None:
    importlib.import_module("momentum_fixture_bad_domain")
    event = make_event("InBadPackage", module="momentum_fixture_bad_domain.integration_events")
    with pytest.raises(InvalidDomainError) as caught:
        event_topic(Cashier)(event)
    message = str(caught.value)
    assert "InBadPackage" in message and "'9lives'" in message
    assert "__domain__ of momentum_fixture_bad_domain" in message


def test_decorator_domain_overrides_an_invalid_package_domain() -> None:
    importlib.import_module("momentum_fixture_bad_domain")
    event = make_event("Overridden", module="momentum_fixture_bad_domain.integration_events")
    event_topic(Cashier, domain="Good")(event)
    assert topic_name(event, "development") == "dev.good.public.cashiers.v1"


def test_length_limit_counts_the_longest_environment() -> None:
    # 4 (env) + 1 + 9 (domain) + 1 + 6 (public) + 1 + topic + 3 (.v1) <= 249
    fits = "x" * (249 - 4 - 1 - 9 - 1 - 6 - 1 - 3)
    event = event_topic(fits, domain="AppDomain")(make_event("Fits"))
    assert len(topic_name(event, "production")) == 249
    with pytest.raises(InvalidTopicError, match="Kafka allows 249"):
        event_topic(fits + "x", domain="AppDomain")(make_event("TooLong"))


@pytest.mark.parametrize("environment", ["pro d!", "production!", "", "prod/uction", "st.aging"])
def test_an_environment_is_checked_whole_before_it_is_shortened(environment: str) -> None:
    from momentum import ConfigurationError

    @event_topic("widgets", domain="Shop")
    @dataclass(frozen=True)
    class WidgetMade:
        widget_id: str

    with pytest.raises(ConfigurationError, match=re.escape(repr(environment))):
        topic_name(WidgetMade, environment)
