from __future__ import annotations

import dataclasses
from dataclasses import InitVar, dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from typing import Annotated, Any, ClassVar, Literal, NewType, Optional
from uuid import UUID

import pytest
from pydantic import BaseModel, ConfigDict

from momentum.contracts.errors import ContractError, InvalidPartitionKeyError
from momentum.contracts.partitioning import (
    PartitionKey,
    format_key_value,
    partition_key,
    partition_key_fields,
    partition_key_issues,
    partition_key_plan,
    validate_partition_key,
)
from momentum.contracts.topics import event_topic

TENANT = UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF")
TenantId = NewType("TenantId", UUID)


class Color(Enum):
    RED = "r"
    GREEN = "g"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


class Region(StrEnum):
    EU = "eu-west"
    US = "us-east"


@dataclass(frozen=True)
class One:
    tenant_id: Annotated[UUID, PartitionKey()]
    name: str


@dataclass(frozen=True)
class Composite:
    region: Annotated[str, PartitionKey(order=1)]
    tenant_id: Annotated[UUID, PartitionKey()]
    account: Annotated[int, PartitionKey()]
    note: str = ""


@dataclass(frozen=True)
class Optionals:
    tenant_id: Annotated[UUID | None, PartitionKey()]
    label: Annotated[Optional[str], PartitionKey(order=1)]  # noqa: UP045 - both spellings


@dataclass(frozen=True)
class Scalars:
    a_flag: Annotated[bool, PartitionKey(order=0)]
    b_amount: Annotated[Decimal, PartitionKey(order=1)]
    c_count: Annotated[int, PartitionKey(order=2)]
    d_color: Annotated[Color, PartitionKey(order=3)]
    e_level: Annotated[Level, PartitionKey(order=4)]
    f_region: Annotated[Region, PartitionKey(order=5)]


@dataclass(frozen=True)
class Texts:
    first: Annotated[str, PartitionKey()]
    second: Annotated[str, PartitionKey()]


@dataclass(frozen=True)
class Loose:
    tenant: Annotated[TenantId, PartitionKey()]
    kind: Annotated[Literal["a", "b"], PartitionKey(order=1)]
    either: Annotated[int | str, PartitionKey(order=2)]
    bare: Annotated[str, PartitionKey] = "x"  # the class itself works, as PartitionKey(0)


@dataclass(frozen=True)
class NoKey:
    tenant_id: UUID


@dataclass(frozen=True)
class Method:
    tenant_id: Annotated[UUID, PartitionKey()]
    account: str

    def partition_key(self) -> str:
        return f"custom:{self.account}"


@dataclass(frozen=True)
class Property:
    account: str

    @property
    def partition_key(self) -> str:
        return self.account.upper()


@dataclass(frozen=True)
class MethodWithoutKey:
    account: str

    def partition_key(self) -> str | None:
        return None if self.account == "none" else self.account


@dataclass(frozen=True)
class BadMethod:
    def partition_key(self) -> int:
        return 42


@dataclass(frozen=True)
class FieldNamedPartitionKey:
    partition_key: str = "not a method"


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)
    tenant_id: Annotated[UUID, PartitionKey()]
    region: Annotated[Region, PartitionKey(order=1)]


@dataclass(frozen=True)
class ForwardReference:
    customer: Annotated[CustomerId, PartitionKey()]  # defined below: resolved on first use


CustomerId = NewType("CustomerId", str)


KEY_CASES: list[tuple[str, object, str | None]] = [
    ("single uuid", One(TENANT, "n"), "6f9619ff-8b86-d011-b42d-00c04fc964ff"),
    (
        "uuid given as upper-case text",
        One(str(TENANT).upper(), "n"),  # type: ignore[arg-type]
        "6f9619ff-8b86-d011-b42d-00c04fc964ff",
    ),
    (
        "composite ordered by (order, name)",
        Composite("eu", TENANT, 7),
        "7|6f9619ff-8b86-d011-b42d-00c04fc964ff|eu",
    ),
    ("optional values present", Optionals(TENANT, "x"), f"{TENANT}|x"),
    ("None becomes empty", Optionals(None, None), "|"),
    ("one None", Optionals(None, "x"), "|x"),
    (
        "scalars the .NET way",
        Scalars(True, Decimal("10.50"), -3, Color.GREEN, Level.HIGH, Region.EU),
        "True|10.50|-3|GREEN|HIGH|EU",
    ),
    (
        "false and zero",
        Scalars(False, Decimal("0"), 0, Color.RED, Level.LOW, Region.US),
        "False|0|0|RED|LOW|US",
    ),
    ("pipe inside a value is kept", Texts("a|b", "c"), "a|b|c"),
    ("pipe in the other value", Texts("a", "b|c"), "a|b|c"),
    ("empty strings", Texts("", ""), "|"),
    ("unicode as is", Texts("zürich", "東京"), "zürich|東京"),
    ("NewType, Literal, union, bare marker", Loose(TENANT, "a", 5), f"x|{TENANT}|a|5"),
    ("union with text", Loose(TENANT, "b", "five", "y"), f"y|{TENANT}|b|five"),
    ("no key", NoKey(TENANT), None),
    ("method wins over marked fields", Method(TENANT, "acc"), "custom:acc"),
    ("property", Property("acc"), "ACC"),
    ("method returning None", MethodWithoutKey("none"), None),
    ("method returning text", MethodWithoutKey("k"), "k"),
    ("field named partition_key is not a method", FieldNamedPartitionKey(), None),
    ("pydantic model", Model(tenant_id=TENANT, region=Region.US), f"{TENANT}|US"),
    ("forward reference", ForwardReference(CustomerId("c-1")), "c-1"),
]


@pytest.mark.parametrize(
    ("case", "event", "expected"), KEY_CASES, ids=[case[0] for case in KEY_CASES]
)
def test_partition_key(case: str, event: object, expected: str | None) -> None:
    assert partition_key(event) == expected


def test_pipe_rule_can_make_distinct_values_share_a_key() -> None:
    # Documented: like .NET's string.Concat, values are not escaped; such keys only share a
    # partition, which keeps ordering stricter, never looser.
    assert partition_key(Texts("a|b", "c")) == partition_key(Texts("a", "b|c"))


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (One, ("tenant_id",)),
        (Composite, ("account", "tenant_id", "region")),
        (Scalars, ("a_flag", "b_amount", "c_count", "d_color", "e_level", "f_region")),
        (Loose, ("bare", "tenant", "kind", "either")),
        (NoKey, ()),
        (Model, ("tenant_id", "region")),
    ],
)
def test_partition_key_fields(cls: type, fields: tuple[str, ...]) -> None:
    assert partition_key_fields(cls) == fields


def test_plan_is_computed_once_per_class() -> None:
    assert partition_key_plan(Composite) is partition_key_plan(Composite)
    assert partition_key_plan(Method).accessor == "method"
    assert partition_key_plan(Property).accessor == "property"
    assert partition_key_plan(NoKey).accessor is None


def test_method_must_return_text() -> None:
    with pytest.raises(InvalidPartitionKeyError, match=r"BadMethod\.partition_key.*int"):
        partition_key(BadMethod())


def test_runtime_value_of_wrong_type_names_the_field() -> None:
    event = One(1.5, "n")  # type: ignore[arg-type]
    with pytest.raises(InvalidPartitionKeyError, match=r"One\.tenant_id holds 1\.5"):
        partition_key(event)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "True"),
        (False, "False"),
        (0, "0"),
        (12345678901234567890, "12345678901234567890"),
        (Decimal("1.10"), "1.10"),
        (Decimal("-0.5"), "-0.5"),
        (TENANT, "6f9619ff-8b86-d011-b42d-00c04fc964ff"),
        (Color.RED, "RED"),
        (Level.LOW, "LOW"),
        (Region.EU, "EU"),
        ("As Is|", "As Is|"),
    ],
)
def test_format_key_value(value: object, text: str) -> None:
    assert format_key_value(value) == text


@pytest.mark.parametrize("value", [1.5, datetime(2024, 1, 1), b"x", [1], object()])
def test_format_key_value_rejects_other_types(value: object) -> None:
    with pytest.raises(TypeError, match="cannot be part of a partition key"):
        format_key_value(value)


# --- markers that cannot work are rejected when @event_topic runs --------------------------


@dataclass(frozen=True)
class FloatKey:
    amount: Annotated[float, PartitionKey()]


@dataclass(frozen=True)
class DatetimeKey:
    at: Annotated[datetime, PartitionKey()]


@dataclass(frozen=True)
class ListKey:
    ids: Annotated[list[str], PartitionKey()]


@dataclass(frozen=True)
class ObjectKey:
    entity: Annotated[One, PartitionKey()]


@dataclass(frozen=True)
class UnionWithFloat:
    value: Annotated[int | float, PartitionKey()]


@dataclass(frozen=True)
class LiteralOfFloat:
    value: Annotated[Literal[1.5], PartitionKey()]


@dataclass(frozen=True)
class ClassVarKey:
    tenant_id: str
    shared: ClassVar[Annotated[str, PartitionKey()]] = "x"


@dataclass(frozen=True)
class InitVarKey:
    tenant_id: str
    seed: InitVar[Annotated[str, PartitionKey()]] = "x"


class PrivateModelKey(BaseModel):
    model_config = ConfigDict(frozen=True)
    tenant_id: str
    _secret: Annotated[str, PartitionKey()] = "x"


@dataclass(frozen=True)
class NotInitField:
    tenant_id: Annotated[str, PartitionKey()] = dataclasses.field(init=False, default="t")


BAD_MARKERS: list[tuple[type, str, str, list[str]]] = [
    (FloatKey, "amount", "partition-key-unsupported-type", ["float", "Decimal"]),
    (DatetimeKey, "at", "partition-key-unsupported-type", ["datetime"]),
    (ListKey, "ids", "partition-key-unsupported-type", ["list[str]"]),
    (ObjectKey, "entity", "partition-key-unsupported-type", ["One"]),
    (UnionWithFloat, "value", "partition-key-unsupported-type", ["int | float"]),
    (LiteralOfFloat, "value", "partition-key-unsupported-type", ["Literal"]),
    (ClassVarKey, "shared", "partition-key-not-a-field", ["a ClassVar"]),
    (InitVarKey, "seed", "partition-key-not-a-field", ["a InitVar"]),
    (PrivateModelKey, "_secret", "partition-key-not-a-field", ["not an instance field"]),
]


@pytest.mark.parametrize(
    ("cls", "field", "code", "fragments"), BAD_MARKERS, ids=[c[0].__name__ for c in BAD_MARKERS]
)
def test_bad_markers_fail_at_decoration(
    cls: type, field: str, code: str, fragments: list[str]
) -> None:
    with pytest.raises(InvalidPartitionKeyError) as caught:
        event_topic("things", domain="AppDomain")(cls)
    message = str(caught.value)
    assert f"{cls.__qualname__}.{field}" in message
    for fragment in fragments:
        assert fragment in message
    assert isinstance(caught.value, ContractError)
    [issue] = partition_key_issues(cls)
    assert (issue.field, issue.code) == (field, code)


def test_field_not_in_init_is_still_a_field() -> None:
    assert partition_key(NotInitField()) == "t"


def test_forward_reference_is_checked_on_first_use() -> None:
    # At decoration time `CustomerId` did not exist yet; validation is deferred, not skipped.
    validate_partition_key(ForwardReference)
    assert partition_key_fields(ForwardReference) == ("customer",)


def test_unresolvable_annotation_on_first_use() -> None:
    @dataclass(frozen=True)
    class Dangling:
        customer: Annotated[DoesNotExist, PartitionKey()]  # type: ignore[name-defined]  # noqa: F821

    validate_partition_key(Dangling)  # deferred
    with pytest.raises(InvalidPartitionKeyError, match=r"Cannot resolve.*Dangling.*DoesNotExist"):
        partition_key(Dangling(customer="x"))


def test_marker_on_any_is_rejected() -> None:
    cls = dataclasses.make_dataclass(
        "AnyKey", [("value", Annotated[Any, PartitionKey()])], frozen=True
    )
    assert partition_key_issues(cls)[0].code == "partition-key-unsupported-type"


@pytest.mark.parametrize(
    ("case", "event", "expected"), KEY_CASES, ids=[case[0] for case in KEY_CASES]
)
def test_the_specialized_key_function_agrees_with_the_plan(
    case: str, event: object, expected: str | None
) -> None:
    from momentum.contracts.partitioning import _planned_key, partition_key_function

    key_of = partition_key_function(type(event))
    assert key_of is partition_key_function(type(event))  # cached
    assert key_of(event) == _planned_key(event, plan=partition_key_plan(type(event)))
    assert key_of(event) == expected


def test_uuid_text_is_str_for_equal_and_for_new_uuids() -> None:
    from momentum.contracts.partitioning import uuid_text

    for value in (TENANT, UUID(str(TENANT)), UUID(int=7), TENANT):
        assert uuid_text(value) == str(value)
