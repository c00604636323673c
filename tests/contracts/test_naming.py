from __future__ import annotations

import pytest

from momentum.contracts.errors import (
    ConfigurationError,
    ContractError,
    InvalidDomainError,
    InvalidServiceNameError,
)
from momentum.contracts.naming import (
    domain_problem,
    environment_short_name,
    kebab_case,
    pluralize,
    service_urn,
    snake_case,
    validate_domain,
    validate_service_name,
)

KEBAB_CASES = [
    ("UserAccount", "user-account"),
    ("Cashier", "cashier"),
    ("cashier", "cashier"),
    ("HTTPRequest", "http-request"),
    ("XMLHttpRequest", "xml-http-request"),
    ("IOController", "io-controller"),
    ("APIName", "api-name"),
    ("getHTTPResponseCode", "get-http-response-code"),
    ("UserID", "user-id"),
    ("HTTP", "http"),
    ("A", "a"),
    ("AB", "ab"),
    ("ABTest", "ab-test"),
    ("Number1InString", "number1-in-string"),
    ("Version2", "version2"),
    ("V2Event", "v2-event"),
    ("HTTP2Request", "http2-request"),
    ("OAuth2Token", "o-auth2-token"),
    ("Sha256Hash", "sha256-hash"),
    ("Base64encoded", "base64encoded"),
    ("Item2go", "item2go"),
    ("already-kebab", "already-kebab"),
    ("snake_case_name", "snake-case-name"),
    ("Mixed_SnakeCase", "mixed-snake-case"),
    ("with spaces Here", "with-spaces-here"),
    ("_Private", "private"),
    ("TrailingUnderscore_", "trailing-underscore"),
    ("double__underscore", "double-underscore"),
    ("camelCase", "camel-case"),
    ("InvoiceLineItem", "invoice-line-item"),
    ("iPhone", "i-phone"),
    # The acronym rule taken literally (as Momentum .NET does): the last capital of a run
    # followed by a lower-case letter starts a word.
    ("UserIDs", "user-i-ds"),
    ("", ""),
]


@pytest.mark.parametrize(("name", "expected"), KEBAB_CASES)
def test_kebab_case(name: str, expected: str) -> None:
    assert kebab_case(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AppDomain", "app_domain"),
        ("app_domain", "app_domain"),
        ("appDomain", "app_domain"),
        ("HTTPRequest", "http_request"),
        ("Number1InString", "number1_in_string"),
        ("app-domain", "app_domain"),
        ("Billing", "billing"),
        ("", ""),
    ],
)
def test_snake_case(name: str, expected: str) -> None:
    assert snake_case(name) == expected


PLURAL_CASES = [
    # regular
    ("cashier", "cashiers"),
    ("invoice", "invoices"),
    ("account", "accounts"),
    ("order", "orders"),
    ("payment", "payments"),
    ("tenant", "tenants"),
    # consonant + y / vowel + y
    ("category", "categories"),
    ("company", "companies"),
    ("policy", "policies"),
    ("entry", "entries"),
    ("delivery", "deliveries"),
    ("day", "days"),
    ("key", "keys"),
    ("survey", "surveys"),
    ("journey", "journeys"),
    # -f / -fe
    ("leaf", "leaves"),
    ("knife", "knives"),
    ("wife", "wives"),
    ("life", "lives"),
    ("half", "halves"),
    ("shelf", "shelves"),
    ("roof", "roofs"),
    ("chief", "chiefs"),
    ("belief", "beliefs"),
    ("proof", "proofs"),
    ("safe", "safes"),
    # -o
    ("hero", "heroes"),
    ("potato", "potatoes"),
    ("echo", "echoes"),
    ("veto", "vetoes"),
    ("photo", "photos"),
    ("video", "videos"),
    ("radio", "radios"),
    ("memo", "memos"),
    ("portfolio", "portfolios"),
    # sibilants
    ("box", "boxes"),
    ("tax", "taxes"),
    ("match", "matches"),
    ("dish", "dishes"),
    ("quiz", "quizzes"),
    ("address", "addresses"),
    ("business", "businesses"),
    ("class", "classes"),
    ("process", "processes"),
    ("status", "statuses"),
    ("bus", "buses"),
    ("bonus", "bonuses"),
    ("campus", "campuses"),
    ("virus", "viruses"),
    ("census", "censuses"),
    ("alias", "aliases"),
    ("atlas", "atlases"),
    ("bias", "biases"),
    ("canvas", "canvases"),
    ("gas", "gases"),
    ("lens", "lenses"),
    # -is -> -es
    ("analysis", "analyses"),
    ("crisis", "crises"),
    ("thesis", "theses"),
    ("basis", "bases"),
    ("diagnosis", "diagnoses"),
    ("hypothesis", "hypotheses"),
    ("axis", "axes"),
    # irregular
    ("person", "people"),
    ("salesperson", "salespeople"),
    ("child", "children"),
    ("man", "men"),
    ("woman", "women"),
    ("chairman", "chairmen"),
    ("human", "humans"),
    ("german", "germans"),
    ("mouse", "mice"),
    ("goose", "geese"),
    ("tooth", "teeth"),
    ("foot", "feet"),
    ("ox", "oxen"),
    ("criterion", "criteria"),
    ("phenomenon", "phenomena"),
    ("datum", "data"),
    ("medium", "media"),
    ("curriculum", "curricula"),
    ("index", "indices"),
    ("matrix", "matrices"),
    ("vertex", "vertices"),
    ("appendix", "appendices"),
    ("cactus", "cacti"),
    ("radius", "radii"),
    ("syllabus", "syllabi"),
    ("stimulus", "stimuli"),
    ("nucleus", "nuclei"),
    # uncountable / invariant
    ("sheep", "sheep"),
    ("fish", "fish"),
    ("deer", "deer"),
    ("moose", "moose"),
    ("series", "series"),
    ("species", "species"),
    ("aircraft", "aircraft"),
    ("news", "news"),
    ("data", "data"),
    ("metadata", "metadata"),
    ("information", "information"),
    ("equipment", "equipment"),
    ("accounting", "accounting"),
    ("software", "software"),
    ("hardware", "hardware"),
    ("feedback", "feedback"),
    ("money", "money"),
    ("advice", "advice"),
    ("research", "research"),
    ("staff", "staff"),
    ("traffic", "traffic"),
    ("means", "means"),
    # already plural
    ("businesses", "businesses"),
    ("cashiers", "cashiers"),
    ("categories", "categories"),
    ("addresses", "addresses"),
    ("statuses", "statuses"),
    ("buses", "buses"),
    ("analyses", "analyses"),
    ("people", "people"),
    ("children", "children"),
    ("men", "men"),
    ("mice", "mice"),
    ("criteria", "criteria"),
    ("media", "media"),
    ("indices", "indices"),
    ("indexes", "indexes"),
    ("cacti", "cacti"),
    ("heroes", "heroes"),
    ("knives", "knives"),
    ("quizzes", "quizzes"),
    ("menus", "menus"),
    ("taxis", "taxis"),
    ("analytics", "analytics"),
    ("metrics", "metrics"),
    # words ending in -u, -i
    ("menu", "menus"),
    ("guru", "gurus"),
    ("taxi", "taxis"),
    # casing preserved
    ("Cashier", "Cashiers"),
    ("Category", "Categories"),
    ("CATEGORY", "CATEGORIES"),
    ("Person", "People"),
    ("PERSON", "PEOPLE"),
    ("Child", "Children"),
    ("Index", "Indices"),
    ("BOX", "BOXES"),
    ("Sheep", "Sheep"),
    ("Businesses", "Businesses"),
    # compounds: only the last word
    ("user-account", "user-accounts"),
    ("sales-person", "sales-people"),
    ("line-item", "line-items"),
    ("status-update", "status-updates"),
    ("purchase-order", "purchase-orders"),
    ("invoice-line-category", "invoice-line-categories"),
    ("business-unit", "business-units"),
    ("unit-business", "unit-businesses"),
    ("fish-tank", "fish-tanks"),
    ("tank-fish", "tank-fish"),
    ("user_account", "user_accounts"),
    ("UserAccount", "UserAccounts"),
    ("SalesPerson", "SalesPeople"),
    ("HTTPRequest", "HTTPRequests"),
    ("user-accounts", "user-accounts"),
    # digits and empty
    ("ipv4", "ipv4s"),
    ("v2", "v2s"),
    ("user-2", "user-2"),
    ("", ""),
]


def test_plural_table_is_wide() -> None:
    assert len(PLURAL_CASES) >= 60


@pytest.mark.parametrize(("word", "expected"), PLURAL_CASES)
def test_pluralize(word: str, expected: str) -> None:
    assert pluralize(word) == expected


@pytest.mark.parametrize(("word", "expected"), PLURAL_CASES)
def test_pluralizing_twice_changes_nothing(word: str, expected: str) -> None:
    assert pluralize(pluralize(word)) == expected


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ("development", "dev"),
        ("Development", "dev"),
        ("DEVELOPMENT", "dev"),
        ("production", "prod"),
        ("Production", "prod"),
        ("staging", "stag"),
        ("sandbox", "sand"),
        ("local", "loca"),
        ("test", "test"),
        ("prod", "prod"),
        ("dev", "dev"),
        ("qa", "qa"),
        ("uat", "uat"),
        ("QA", "qa"),
        ("Test", "test"),
        ("performance", "perf"),
        ("dev2", "dev2"),
        ("", ""),
    ],
)
def test_environment_short_name(environment: str, expected: str) -> None:
    assert environment_short_name(environment) == expected


@pytest.mark.parametrize(
    "domain", ["AppDomain", "app_domain", "app-domain", "billing", "B", "Domain2", "a-1_b"]
)
def test_valid_domains(domain: str) -> None:
    assert validate_domain(domain) == domain
    assert domain_problem(domain) is None


@pytest.mark.parametrize(
    ("domain", "fragment"),
    [
        ("", "empty"),
        ("1domain", "start with a letter"),
        ("_domain", "start with a letter"),
        ("-domain", "start with a letter"),
        ("app.domain", "'.'"),
        ("app domain", "' '"),
        ("app/domain", "'/'"),
        ("café", "'é'"),
        ("éclair", "start with a letter"),
    ],
)
def test_invalid_domains(domain: str, fragment: str) -> None:
    with pytest.raises(InvalidDomainError) as caught:
        validate_domain(domain)
    assert fragment in str(caught.value)
    assert repr(domain) in str(caught.value)
    assert isinstance(caught.value, ContractError)


def test_domain_must_be_a_string() -> None:
    assert domain_problem(42) == "a domain must be a string, got int"


@pytest.mark.parametrize("name", ["app-domain", "billing", "billing-api-2", "a", "svc2"])
def test_valid_service_names(name: str) -> None:
    assert validate_service_name(name) == name


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("AppDomain", "Did you mean 'app-domain'?"),
        ("app_domain", "Did you mean 'app-domain'?"),
        ("app--domain", "Did you mean 'app-domain'?"),
        ("-app", "Did you mean 'app'?"),
        ("app-", "Did you mean 'app'?"),
        ("2fa", ""),
        ("", ""),
        ("app.domain", "Did you mean 'app-domain'?"),
    ],
)
def test_invalid_service_names(name: str, hint: str) -> None:
    with pytest.raises(InvalidServiceNameError) as caught:
        validate_service_name(name)
    message = str(caught.value)
    assert "kebab-case" in message and repr(name) in message
    assert hint in message
    assert isinstance(caught.value, ConfigurationError)


@pytest.mark.parametrize(
    ("domain", "service", "urn"),
    [
        ("AppDomain", "app-domain", "/app_domain/app-domain"),
        ("app_domain", "app-domain", "/app_domain/app-domain"),
        ("Billing", "invoicing-api", "/billing/invoicing-api"),
        ("HTTPGateway", "gateway", "/http_gateway/gateway"),
    ],
)
def test_service_urn(domain: str, service: str, urn: str) -> None:
    assert service_urn(domain, service) == urn


@pytest.mark.parametrize(
    ("domain", "service", "error"),
    [
        ("1bad", "app-domain", InvalidDomainError),
        ("AppDomain", "AppDomain", InvalidServiceNameError),
    ],
)
def test_service_urn_validates(domain: str, service: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        service_urn(domain, service)
