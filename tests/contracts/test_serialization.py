"""The JSON payload codec: casing, value formats, case-insensitive reads and typed errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from momentum_fixture_codec import (
    CASHIER,
    CASHIER_CREATED,
    CUSTOMER,
    EVERYTHING,
    LINE,
    SHIPMENT,
    TENANT,
    TREE,
    Ambiguous,
    Category,
    CustomerRegistered,
    Everything,
    FixtureCashierCreated,
    LegacyNamed,
    Line,
    PydanticPoint,
    Shipment,
)

from momentum.contracts import serialization
from momentum.contracts.errors import (
    InvalidJsonError,
    MessageDecodeError,
    MessageEncodeError,
    SchemaMismatchError,
    SerializationError,
)
from momentum.contracts.serialization import CASINGS, cased, codec, decode, encode, json_schema

# --- casing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "camel", "snake", "pascal"),
    [
        ("tenant_id", "tenantId", "tenant_id", "TenantId"),
        ("name", "name", "name", "Name"),
        ("http_url_v2", "httpUrlV2", "http_url_v2", "HttpUrlV2"),
        ("x", "x", "x", "X"),
        ("alreadyCamel", "alreadyCamel", "alreadyCamel", "AlreadyCamel"),
    ],
)
def test_cased(name: str, camel: str, snake: str, pascal: str) -> None:
    assert (cased(name, "camel"), cased(name, "snake"), cased(name, "pascal")) == (
        camel,
        snake,
        pascal,
    )


@pytest.mark.parametrize(
    ("casing", "expected"),
    [
        (
            "camel",
            f'{{"tenantId":"{TENANT}","cashier":{{"cashierId":"{CASHIER}","name":"Ada",'
            '"email":"ada@example.com"}}',
        ),
        (
            "snake",
            f'{{"tenant_id":"{TENANT}","cashier":{{"cashier_id":"{CASHIER}","name":"Ada",'
            '"email":"ada@example.com"}}',
        ),
        (
            "pascal",
            f'{{"TenantId":"{TENANT}","Cashier":{{"CashierId":"{CASHIER}","Name":"Ada",'
            '"Email":"ada@example.com"}}',
        ),
    ],
)
def test_encode_writes_the_casing(casing: serialization.Casing, expected: str) -> None:
    assert encode(CASHIER_CREATED, casing) == expected.encode()


def test_default_casing_is_camel() -> None:
    assert encode(CASHIER_CREATED) == encode(CASHIER_CREATED, "camel")


@pytest.mark.parametrize("casing", CASINGS)
@pytest.mark.parametrize(
    "message",
    [CASHIER_CREATED, EVERYTHING, CUSTOMER, TREE, SHIPMENT, PydanticPoint(1, 2)],
    ids=repr,
)
def test_round_trip_every_casing(message: Any, casing: serialization.Casing) -> None:
    data = encode(message, casing)
    assert decode(type(message), data) == message
    assert codec(type(message), casing).decode(data) == message


def test_codec_is_built_once_per_class_and_casing() -> None:
    assert codec(Everything) is codec(Everything, "camel")
    assert codec(Everything, "pascal") is not codec(Everything, "camel")
    assert repr(codec(Everything, "snake")).endswith("Everything, casing='snake')")


def test_unknown_casing_is_refused() -> None:
    with pytest.raises(ValueError, match="casing must be one of camel, snake, pascal"):
        codec(Line, "kebab")  # type: ignore[arg-type]


# --- value formats -----------------------------------------------------------------------------


def _encoded(message: Any) -> dict[str, Any]:
    return json.loads(encode(message), parse_float=Decimal)  # type: ignore[no-any-return]


def test_value_formats_on_the_wire() -> None:
    raw = encode(EVERYTHING).decode()
    wire = _encoded(EVERYTHING)
    assert wire["tenantId"] == str(TENANT)
    assert '"amount":12345678901234567890.123456789,' in raw  # a JSON number, every digit
    assert wire["occurredAt"] == "2024-05-01T12:30:15.250000Z"
    assert wire["dueOn"] == "2024-06-30"
    assert (wire["color"], wire["priority"]) == ("dark-blue", 2)
    assert wire["lines"][0] == {
        "lineId": str(LINE),
        "sku": "SKU-1",
        "quantity": 3,
        "unitPrice": Decimal("9.90"),
    }
    assert '"unitPrice":9.90}' in raw and '"unitPrice":0.01}' in raw
    assert '"unitPrice":-100}' in raw  # plain notation, no exponent
    assert wire["counts"] == {"Some_Key": 1, "other": 2}  # dict keys are data, not renamed
    assert (wire["note"], wire["ratio"], wire["active"]) == (None, 0.25, False)
    assert wire["payload"] == "+/8A"  # standard base64, as .NET writes byte[]


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05Z"),
        (datetime(2024, 1, 2, 3, 4, 5, 123, tzinfo=UTC), "2024-01-02T03:04:05.000123Z"),
        (
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
            "2024-01-02T03:04:05-05:30",
        ),
    ],
)
def test_datetimes_are_rfc3339_with_offset(moment: datetime, text: str) -> None:
    message = CustomerRegistered.model_validate({**CUSTOMER.model_dump(), "registered_at": moment})
    assert _encoded(message)["registeredAt"] == text
    assert decode(CustomerRegistered, encode(message)).registered_at == moment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.10000000000000000000000001", Decimal("0.10000000000000000000000001")),
        ("123456789012345678901234567890", Decimal("123456789012345678901234567890")),
        ('"42.50"', Decimal("42.50")),
        ("1E+3", Decimal("1E+3")),
        ("-0.5", Decimal("-0.5")),
    ],
)
def test_decimals_are_read_exactly(text: str, expected: Decimal) -> None:
    data = f'{{"lineId":"{LINE}","sku":"s","quantity":1,"unitPrice":{text}}}'
    assert decode(Line, data).unit_price == expected


def test_datetime_without_offset_is_read_as_utc() -> None:
    data = encode(CUSTOMER).replace(b"2024-01-02T03:04:05+02:00", b"2024-01-02T03:04:05")
    registered = decode(CustomerRegistered, data).registered_at
    assert registered.utcoffset() == timedelta(0)
    assert registered == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_uuid_is_read_in_any_case_and_written_lower_case() -> None:
    data = encode(CASHIER_CREATED).replace(str(TENANT).encode(), str(TENANT).upper().encode())
    message = decode(FixtureCashierCreated, data)
    assert message == CASHIER_CREATED
    assert str(TENANT) in encode(message).decode()


@pytest.mark.parametrize("text", ["+/8A", "-_8A", "-_8A=", "+/8A"])
def test_bytes_read_standard_or_url_safe_base64(text: str) -> None:
    data = encode(EVERYTHING).replace(b'"+/8A"', f'"{text}"'.encode())
    assert decode(Everything, data).payload == b"\xfb\xff\x00"


# --- case-insensitive reading ------------------------------------------------------------------


@pytest.mark.parametrize(
    "tenant_key", ["tenantId", "tenant_id", "TenantId", "TENANTID", "tenantid", "Tenant_Id"]
)
@pytest.mark.parametrize("cashier_key", ["cashierId", "CASHIER_ID", "CashierId", "cashierid"])
def test_reads_any_casing(tenant_key: str, cashier_key: str) -> None:
    data = json.dumps(
        {
            tenant_key: str(TENANT),
            "CASHIER": {cashier_key: str(CASHIER), "Name": "Ada", "eMail": "ada@example.com"},
        }
    )
    assert decode(FixtureCashierCreated, data) == CASHIER_CREATED


def test_reads_any_casing_in_models_lists_and_recursion() -> None:
    customer = json.loads(encode(CUSTOMER, "pascal").decode().upper().replace("GRACE", "Grace"))
    customer["FULLNAME"] = "Grace Hopper"
    customer["HOMEADDRESS"] = {"street_NAME": "Main St 1", "POSTALcode": "1000"}
    customer["PREVIOUSADDRESSES"] = [{"STREETNAME": "Old Rd 2", "postal_code": "2000"}]
    customer["CUSTOMERID"] = str(CASHIER)
    assert decode(CustomerRegistered, json.dumps(customer)) == CUSTOMER
    tree = encode(TREE, "pascal").decode().upper().replace('"ROOT"', '"root"')
    tree = tree.replace('"A"', '"a"').replace('"A1"', '"a1"').replace('"B"', '"b"')
    assert decode(Category, tree) == TREE


@pytest.mark.parametrize(
    ("casing", "expected"),
    [
        (
            "camel",
            b'{"trackingCode":"TRK-1","point":{"xValue":3,"yValue":4},'
            b'"labels":{"displayName":"Box"},"codeLength":5}',
        ),
        (
            "pascal",
            b'{"TrackingCode":"TRK-1","Point":{"XValue":3,"YValue":4},'
            b'"Labels":{"DisplayName":"Box"},"CodeLength":5}',
        ),
    ],
)
def test_pydantic_dataclasses_typed_dicts_and_computed_fields(
    casing: serialization.Casing, expected: bytes
) -> None:
    assert encode(SHIPMENT, casing) == expected
    sloppy = (
        b'{"TRACKING_CODE":"  TRK-1 ","POINT":{"x_VALUE":3,"yvalue":4},'
        b'"labels":{"DisplayName":"Box"}}'
    )
    assert decode(Shipment, sloppy) == SHIPMENT  # field validators still run


def test_unknown_properties_are_ignored() -> None:
    wire = _encoded(CASHIER_CREATED)
    wire["addedInV2"] = {"anything": [1, 2]}
    assert decode(FixtureCashierCreated, json.dumps(wire)) == CASHIER_CREATED


def test_explicit_alias_is_kept_in_every_casing() -> None:
    message = LegacyNamed(order_no=7, customer_name="Zed")
    assert encode(message, "pascal") == b'{"ORDER-NUMBER":7,"CustomerName":"Zed"}'
    assert encode(message, "snake") == b'{"ORDER-NUMBER":7,"customer_name":"Zed"}'
    assert decode(LegacyNamed, b'{"order-number":7,"CUSTOMERNAME":"Zed"}') == message
    assert decode(LegacyNamed, b'{"orderNo":7,"customerName":"Zed"}') == message


def test_names_differing_only_by_underscore_need_an_exact_casing() -> None:
    assert decode(Ambiguous, b'{"abC":1,"aBc":2}') == Ambiguous(ab_c=1, a_bc=2)
    assert decode(Ambiguous, b'{"ab_c":1,"a_bc":2}') == Ambiguous(ab_c=1, a_bc=2)
    with pytest.raises(SchemaMismatchError):
        decode(Ambiguous, b'{"ABC":1,"abc":2}')


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error", "reason", "fragments"),
    [
        (b"{", InvalidJsonError, "invalid-json", ["FixtureCashierCreated", "not valid"]),
        (b"", InvalidJsonError, "invalid-json", ["FixtureCashierCreated"]),
        (b"\xff\xfe", InvalidJsonError, "invalid-json", ["UTF-8"]),
        (b'{"tenantId": 1', InvalidJsonError, "invalid-json", ["FixtureCashierCreated"]),
        (
            b"[]",
            SchemaMismatchError,
            "schema-mismatch",
            ["FixtureCashierCreated", "(message)"],
        ),
        (
            f'{{"tenantId":"{TENANT}"}}'.encode(),
            SchemaMismatchError,
            "schema-mismatch",
            ["cashier: Field required"],
        ),
        (
            f'{{"tenantId":"nope","cashier":{{"cashierId":"{CASHIER}","name":"A"}}}}'.encode(),
            SchemaMismatchError,
            "schema-mismatch",
            ["tenantId: Input should be a valid UUID", "cashier.email: Field required"],
        ),
        (
            f'{{"tenantId":"{TENANT}","cashier":{{"cashierId":"{CASHIER}","name":5,'
            '"email":"e"}}'.encode(),
            SchemaMismatchError,
            "schema-mismatch",
            ["cashier.name: Input should be a valid string"],
        ),
    ],
)
def test_decode_errors(
    data: bytes, error: type[MessageDecodeError], reason: str, fragments: list[str]
) -> None:
    with pytest.raises(error) as caught:
        decode(FixtureCashierCreated, data)
    assert caught.value.reason == reason
    assert isinstance(caught.value, SerializationError)
    for fragment in fragments:
        assert fragment in str(caught.value)
    assert caught.value.message_type is FixtureCashierCreated  # type: ignore[attr-defined]


def test_schema_mismatch_lists_problems_by_field() -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        decode(FixtureCashierCreated, b'{"tenantId":"x","cashier":{}}')
    assert [where for where, _ in caught.value.problems] == [
        "tenantId",
        "cashier.cashierId",
        "cashier.name",
        "cashier.email",
    ]


@pytest.mark.parametrize(
    ("message", "fragments"),
    [
        (
            Line(LINE, "s", 1, Decimal("NaN")),
            ["Line", "field 'Line.unit_price'", "no JSON form"],
        ),
        (
            Everything(**{**EVERYTHING.__dict__, "maybe_line": Line(LINE, "s", 1, Decimal("Inf"))}),
            ["Everything", "field 'Line.unit_price'"],
        ),
        (
            Everything(**{**EVERYTHING.__dict__, "occurred_at": datetime(2024, 1, 1)}),
            ["Everything", "field 'Everything.occurred_at'", "naive", "datetime.now(UTC)"],
        ),
    ],
)
def test_encode_errors(message: Any, fragments: list[str]) -> None:
    with pytest.raises(MessageEncodeError) as caught:
        encode(message)
    assert caught.value.reason == "encode-failed"
    assert caught.value.message_type is type(message)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_codec_refuses_another_class() -> None:
    with pytest.raises(MessageEncodeError, match="cannot encode a Line"):
        codec(Everything).encode(EVERYTHING.lines[0])


def test_unsupported_class_is_an_encode_error() -> None:
    class NotAMessage:
        pass

    with pytest.raises(MessageEncodeError, match="NotAMessage cannot be serialized"):
        codec(NotAMessage)


def test_decode_value_takes_parsed_json() -> None:
    parsed = serialization.parse_json(encode(EVERYTHING, "pascal"))
    assert isinstance(parsed["Amount"], Decimal)
    assert codec(Everything).decode_value(parsed) == EVERYTHING


# --- JSON schema -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("casing", "tenant", "cashier_id"),
    [
        ("camel", "tenantId", "cashierId"),
        ("snake", "tenant_id", "cashier_id"),
        ("pascal", "TenantId", "CashierId"),
    ],
)
def test_json_schema_uses_the_casing(
    casing: serialization.Casing, tenant: str, cashier_id: str
) -> None:
    schema = json_schema(FixtureCashierCreated, casing)
    assert list(schema["properties"]) == [tenant, cased("cashier", casing)]
    assert schema["properties"][tenant] == {
        "format": "uuid",
        "title": schema["properties"][tenant]["title"],
        "type": "string",
    }
    nested = schema["$defs"]["FixtureCashier"]
    assert nested["required"] == [cashier_id, cased("name", casing), cased("email", casing)]


def test_json_schema_describes_wire_types() -> None:
    props = json_schema(Everything)["properties"]
    assert props["amount"]["type"] == "number"
    assert props["occurredAt"] == {
        "format": "date-time",
        "title": props["occurredAt"]["title"],
        "type": "string",
    }
    assert props["color"] == {"$ref": "#/$defs/Color"}
    model = json_schema(CustomerRegistered, "pascal")
    assert set(model["properties"]) >= {"CustomerId", "HomeAddress", "CreditLimit"}
    assert model["properties"]["CreditLimit"]["type"] == "number"


@dataclass(frozen=True)
class _Local:
    when: date


def test_classes_defined_anywhere_work() -> None:
    assert decode(_Local, encode(_Local(date(2020, 2, 29)))) == _Local(date(2020, 2, 29))
