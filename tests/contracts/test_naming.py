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


# Every case of Momentum .NET's own pluralization suite (PluralizationServiceTests in the
# Momentum repository, libs/Momentum/tests/Momentum.Extensions.Tests/Extensions), in its order
# and with its group comments. Topic names must match what .NET computes, so these are the
# reference.
DOTNET_SUITE = [
    # Regular words - add 's'
    ("cat", "cats"),
    ("dog", "dogs"),
    ("book", "books"),
    ("car", "cars"),
    ("house", "houses"),
    ("table", "tables"),
    # Words ending in sibilants - add 'es'
    ("box", "boxes"),
    ("bus", "buses"),
    ("glass", "glass"),
    ("class", "classes"),
    ("dish", "dishes"),
    ("brush", "brushes"),
    ("church", "churches"),
    ("watch", "watches"),
    ("fox", "foxes"),
    ("buzz", "buzzes"),
    ("data", "data"),
    # Words ending in consonant + y - change 'y' to 'ies'
    ("baby", "babies"),
    ("city", "cities"),
    ("story", "stories"),
    ("party", "parties"),
    ("lady", "ladies"),
    ("country", "countries"),
    ("cow", "cows"),
    ("family", "families"),
    ("company", "companies"),
    # Words ending in vowel + y - add 's'
    ("boy", "boys"),
    ("day", "days"),
    ("key", "keys"),
    ("toy", "toys"),
    ("play", "plays"),
    ("way", "ways"),
    ("monkey", "monkeys"),
    ("turkey", "turkeys"),
    # Words ending in f/fe - change to 'ves'
    ("leaf", "leaves"),
    ("knife", "knives"),
    ("life", "lives"),
    ("wife", "wives"),
    ("half", "halves"),
    ("shelf", "shelves"),
    ("wolf", "wolves"),
    ("calf", "calves"),
    ("self", "selves"),
    # Words ending in f/fe exceptions - add 's'
    ("roof", "roofs"),
    ("chief", "chiefs"),
    ("cliff", "cliffs"),
    ("staff", "staff"),
    ("safe", "safes"),
    ("cafe", "cafes"),
    # Words ending in consonant + o - add 'es'
    ("hero", "heroes"),
    ("potato", "potatoes"),
    ("tomato", "tomatoes"),
    ("echo", "echoes"),
    ("tornado", "tornadoes"),
    ("volcano", "volcanoes"),
    # Words ending in vowel + o - add 's'
    ("photo", "photos"),
    ("piano", "pianos"),
    ("radio", "radios"),
    ("video", "videos"),
    ("studio", "studios"),
    ("zoo", "zoos"),
    ("tattoo", "tattoos"),
    # Irregular words
    ("child", "children"),
    ("man", "men"),
    ("woman", "women"),
    ("foot", "feet"),
    ("tooth", "teeth"),
    ("mouse", "mice"),
    ("goose", "geese"),
    ("person", "people"),
    ("ox", "oxen"),
    # Unchanged words
    ("sheep", "sheep"),
    ("deer", "deer"),
    ("fish", "fish"),
    ("moose", "moose"),
    ("species", "species"),
    ("series", "series"),
    ("aircraft", "aircraft"),
    ("spacecraft", "spacecraft"),
    # Words ending in 'sis' - change to 'ses'
    ("analysis", "analyses"),
    ("basis", "bases"),
    ("crisis", "crises"),
    ("thesis", "theses"),
    ("diagnosis", "diagnoses"),
    ("oasis", "oases"),
    # Latin-derived words
    ("criterion", "criteria"),
    ("phenomenon", "phenomena"),
    ("datum", "data"),
    ("medium", "media"),
    ("curriculum", "curricula"),
    ("memorandum", "memoranda"),
    # Edge cases
    ("", ""),
    (" ", " "),
    # Case preservation
    ("CAT", "CATS"),
    ("Dog", "Dogs"),
    ("HOUSE", "HOUSES"),
    ("Ledger", "Ledgers"),
    ("Cashier", "Cashiers"),
    ("Invoice", "Invoices"),
    ("Accounting", "Accounting"),
    ("User", "Users"),
    ("Users", "Users"),
    ("UsersAccount", "UsersAccounts"),
    ("Permission", "Permissions"),
    ("Business", "Businesses"),
    ("Businesses", "Businesses"),
    ("Human", "Humans"),
]

# Further behaviour read from .NET's PluralizationExtensions (not in its suite): the word lists
# match the whole string only, -ed words are taken for verbs, and the y/o tests are
# case-sensitive.
DOTNET_RULES = [
    # the whole kebab-case name is one word to .NET
    ("search-index", "search-indexes"),
    ("sales-person", "sales-persons"),
    ("tank-fish", "tank-fishes"),
    ("user-account", "user-accounts"),
    ("invoice-line-category", "invoice-line-categories"),
    ("user_account", "user_accounts"),
    ("UserAccount", "UserAccounts"),
    ("HTTPRequest", "HTTPRequests"),
    # word lists: uncountable, invariant, irregular
    ("currency", "currency"),
    ("accounting", "accounting"),
    ("software", "software"),
    ("swiss", "swiss"),
    ("headquarters", "headquarters"),
    ("index", "indices"),
    ("appendix", "appendices"),
    ("formula", "formulae"),
    ("bureau", "bureaux"),
    ("corpus", "corpora"),
    ("octopus", "octopuses"),
    ("axis", "axes"),
    ("people", "people"),
    ("media", "media"),
    # not in the lists, so the suffix rules apply
    ("quiz", "quizes"),
    ("metadata", "metadatas"),
    ("feedback", "feedbacks"),
    ("agenda", "agendas"),
    ("cargo", "cargos"),
    ("news", "newses"),
    ("salesperson", "salespersons"),
    ("chairman", "chairmans"),
    ("status", "statuses"),
    ("bonus", "bonuses"),
    ("famous", "famouses"),
    ("taxis", "taxes"),
    ("veto", "vetoes"),
    ("domino", "dominoes"),
    ("chef", "chefs"),
    ("giraffe", "giraffes"),
    ("survey", "surveys"),
    ("category", "categories"),
    ("address", "addresses"),
    # already plural by .NET's rules (a final -s after one of its two-letter endings)
    ("users", "users"),
    ("cashiers", "cashiers"),
    ("lens", "lens"),
    ("heroes", "heroes"),
    ("knives", "knives"),
    ("categories", "categories"),
    ("accounts", "accountses"),
    ("user-accounts", "user-accountses"),
    # -ed: a verb form, left alone, unless it is one of the -ed nouns
    ("created", "created"),
    ("order-completed", "order-completed"),
    ("bed", "beds"),
    ("seed", "seeds"),
    ("rss-feed", "rss-feed"),
    # casing: the y and o tests are case-sensitive
    ("Category", "Categories"),
    ("CATEGORY", "CATEGORYS"),
    ("Person", "People"),
    ("PERSON", "PEOPLE"),
    ("Index", "Indices"),
    ("BOX", "BOXES"),
    # digits, whitespace, one character
    ("ipv4", "ipv4s"),
    ("v2", "v2s"),
    ("user-2", "user-2s"),
    (" cat ", "cats"),
    ("a", "a"),
]

# Pluralizing a plural: .NET takes a word ending in -s for a plural only after one of its
# two-letter endings (users, tables, tokens, ...), so these plurals of its own suite get a
# second suffix. Every other plural of the suite is left alone.
DOTNET_PLURALIZED_TWICE = {
    "dogs": "dogses",
    "books": "bookses",
    "cows": "cowses",
    "boys": "boyses",
    "days": "dayses",
    "keys": "keyses",
    "toys": "toyses",
    "plays": "playses",
    "ways": "wayses",
    "monkeys": "monkeyses",
    "turkeys": "turkeyses",
    "roofs": "roofses",
    "chiefs": "chiefses",
    "cliffs": "cliffses",
    "safes": "safeses",
    "cafes": "cafeses",
    "photos": "photoses",
    "pianos": "pianoses",
    "radios": "radioses",
    "videos": "videoses",
    "studios": "studioses",
    "zoos": "zooses",
    "tattoos": "tattooses",
    "Dogs": "Dogses",
    "UsersAccounts": "UsersAccountses",
}


def test_dotnet_suite_is_complete() -> None:
    assert len(DOTNET_SUITE) == 107
    assert len({word for word, _ in DOTNET_SUITE}) == 107


@pytest.mark.parametrize(("word", "expected"), DOTNET_SUITE + DOTNET_RULES)
def test_pluralize_like_dotnet(word: str, expected: str) -> None:
    assert pluralize(word) == expected


@pytest.mark.parametrize(("word", "expected"), DOTNET_SUITE)
def test_pluralizing_twice_like_dotnet(word: str, expected: str) -> None:
    assert pluralize(pluralize(word)) == DOTNET_PLURALIZED_TWICE.get(expected, expected)


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
