"""CloudEvents 1.0 over Kafka: headers written, both content modes read, errors, SDK interop."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

import pytest
from momentum_fixture_codec import (
    CUSTOMER,
    EVERYTHING,
    CustomerRegistered,
    Everything,
    FixtureCashier,
    FixtureCashierCreated,
)

from momentum.contracts import cloudevents
from momentum.contracts.envelope import Envelope, Origin
from momentum.contracts.errors import (
    InvalidCloudEventError,
    InvalidJsonError,
    MessageDecodeError,
    MessageEncodeError,
    SchemaMismatchError,
    UnknownCloudEventTypeError,
    UnknownMessageTypeError,
    UnsupportedContentTypeError,
    UnsupportedSpecVersionError,
)
from momentum.contracts.message_types import MessageTypeRegistry

try:  # the official SDK: 2.x keeps the 1.x API under cloudevents.v1 and adds cloudevents.core
    from cloudevents.v1 import kafka as v1_kafka
    from cloudevents.v1.http import CloudEvent as V1CloudEvent
except ImportError:  # cloudevents 1.x
    from cloudevents import kafka as v1_kafka  # type: ignore[no-redef]
    from cloudevents.http import CloudEvent as V1CloudEvent  # type: ignore[no-redef]
try:
    from cloudevents.core.bindings import kafka as core_kafka
    from cloudevents.core.formats.json import JSONFormat
    from cloudevents.core.v1.event import CloudEvent as CoreCloudEvent
except ImportError:  # cloudevents 1.x: the core API tests are skipped
    core_kafka = None

needs_core_sdk = pytest.mark.skipif(core_kafka is None, reason="needs cloudevents>=2.0")

TYPE = "AppDomain.Cashiers.CashierCreated"
SOURCE = "/app_domain/app-domain"
MESSAGE_ID = UUID("3d1f0a52-5b7e-4c2b-9f61-1e2d3c4b5a69")
TENANT = UUID("6f1c2a4e-8d0b-4c1e-9a55-0123456789ab")
CASHIER = UUID("0b9d7f3c-1e2a-4b5c-8d6e-abcdefabcdef")
CREATED = 1714566615.25  # 2024-05-01T12:30:15.25Z
TIME = "2024-05-01T12:30:15.250000Z"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
EVENT = FixtureCashierCreated(TENANT, FixtureCashier(CASHIER, "Ada", "ada@example.com"))
DATA = {
    "tenantId": str(TENANT),
    "cashier": {"cashierId": str(CASHIER), "name": "Ada", "email": "ada@example.com"},
}
REGISTRY = MessageTypeRegistry([FixtureCashierCreated, CustomerRegistered, Everything])


def _envelope(**overrides: Any) -> Envelope:
    fields: dict[str, Any] = {
        "message_id": MESSAGE_ID,
        "tenant_id": str(TENANT),
        "correlation_id": "corr-1",
        "causation_id": "cause-1",
        "headers": {"traceparent": TRACEPARENT, "tracestate": "k=v", "x-app": "démo"},
        "created": CREATED,
        "source": SOURCE,
    }
    fields.update(overrides)
    return Envelope(EVENT, **fields)


def _binary_headers(**extra: bytes) -> list[tuple[str, bytes]]:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(MESSAGE_ID).encode()),
        ("ce_type", TYPE.encode()),
        ("ce_source", SOURCE.encode()),
        ("ce_time", TIME.encode()),
        ("content-type", b"application/json"),
    ]
    return headers + [(name, value) for name, value in extra.items()]


# --- encoding ----------------------------------------------------------------------------------


def test_encode_binary_mode_headers_and_value() -> None:
    value, headers = cloudevents.encode(_envelope())
    assert json.loads(value) == DATA
    assert headers == [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(MESSAGE_ID).encode()),
        ("ce_type", TYPE.encode()),
        ("ce_source", SOURCE.encode()),
        ("ce_time", TIME.encode()),
        ("content-type", b"application/json"),
        ("ce_tenantid", str(TENANT).encode()),
        ("ce_correlationid", b"corr-1"),
        ("ce_causationid", b"cause-1"),
        ("ce_traceparent", TRACEPARENT.encode()),
        ("ce_tracestate", b"k=v"),
        ("x-app", "démo".encode()),
    ]


def test_encode_minimal_envelope_writes_only_required_attributes() -> None:
    envelope = Envelope(EVENT, message_id=MESSAGE_ID, created=CREATED, source=SOURCE)
    _, headers = cloudevents.encode(envelope)
    assert [name for name, _ in headers] == [
        "ce_specversion",
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_time",
        "content-type",
    ]


def test_encode_generates_the_message_id_once() -> None:
    envelope = Envelope(EVENT, source=SOURCE)
    _, headers = cloudevents.encode(envelope)
    assert dict(headers)["ce_id"] == str(envelope.message_id).encode()


@pytest.mark.parametrize("casing", ["camel", "snake", "pascal"])
def test_encode_payload_casing(casing: Any) -> None:
    value, _ = cloudevents.encode(_envelope(), casing=casing)
    key = {"camel": "tenantId", "snake": "tenant_id", "pascal": "TenantId"}[casing]
    assert key in json.loads(value)


@pytest.mark.parametrize(("attempts", "header"), [(1, None), (2, b"2"), (17, b"17")])
def test_attempts_header_only_after_the_first_attempt(attempts: int, header: bytes | None) -> None:
    _, headers = cloudevents.encode(_envelope(attempts=attempts))
    assert dict(headers).get("ce_attempts") == header


def test_reserved_header_names_in_envelope_headers_are_not_written_twice() -> None:
    envelope = _envelope(
        headers={"content-type": "text/plain", "ce_id": "x", "CE_TYPE": "y", "ce_subject": "s"}
    )
    _, headers = cloudevents.encode(envelope)
    names = [name for name, _ in headers]
    assert names.count("content-type") == 1 and names.count("ce_id") == 1
    assert "CE_TYPE" not in names
    assert ("ce_subject", b"s") in headers  # not an attribute momentum writes: passed through


def test_source_fallback_and_missing_source() -> None:
    envelope = _envelope(source=None)
    _, headers = cloudevents.encode(envelope, source="/other/svc")
    assert dict(headers)["ce_source"] == b"/other/svc"
    with pytest.raises(MessageEncodeError, match="no source"):
        cloudevents.encode(envelope)


@pytest.mark.parametrize("casing", ["camel", "snake", "pascal"])
@pytest.mark.parametrize("message", [EVENT, EVERYTHING, CUSTOMER], ids=type)
@pytest.mark.parametrize("tenant", [str(TENANT), None])
def test_new_message_writer_writes_the_record_of_the_new_envelope(
    casing: Any, message: Any, tenant: str | None
) -> None:
    # What bus.publish_many writes without an envelope: header for header, byte for byte
    # what the envelope a root bus would make encodes to.
    write = cloudevents.new_message_writer(type(message), SOURCE, CREATED, casing)
    for message_id in (str(MESSAGE_ID), str(CASHIER)):
        envelope = Envelope(
            message, message_id=UUID(message_id), tenant_id=tenant, created=CREATED, source=SOURCE
        )
        assert write(message, message_id, tenant) == cloudevents.encode(envelope, casing=casing)


def test_new_message_writer_needs_a_source_and_a_serializable_class() -> None:
    with pytest.raises(MessageEncodeError, match="no source"):
        cloudevents.new_message_writer(FixtureCashierCreated, "", CREATED)
    write = cloudevents.new_message_writer(FixtureCashierCreated, SOURCE, CREATED)
    broken = FixtureCashierCreated(TENANT, object())  # type: ignore[arg-type]
    with pytest.raises(MessageEncodeError):  # the typed error, not pydantic's
        write(broken, str(MESSAGE_ID), None)


@pytest.mark.parametrize(
    ("created", "text"),
    [
        (0.0, b"1970-01-01T00:00:00.000000Z"),
        (CREATED, TIME.encode()),
        (1714566615.000001, b"2024-05-01T12:30:15.000001Z"),
        (1714566615.9999996, b"2024-05-01T12:30:16.000000Z"),
        (1709164800.5, b"2024-02-29T00:00:00.500000Z"),
        (-1.5, b"1969-12-31T23:59:58.500000Z"),
    ],
)
def test_rfc3339(created: float, text: bytes) -> None:
    assert cloudevents.rfc3339(created) == text
    assert cloudevents.rfc3339(created) == text  # the cached second gives the same answer


# --- decoding ----------------------------------------------------------------------------------


def test_round_trip_restores_the_envelope() -> None:
    original = _envelope(attempts=3)
    origin = Origin("kafka", "dev.appdomain.public.cashiers.v1", 2, 42)
    value, headers = cloudevents.encode(original)
    decoded = cloudevents.decode(value, headers, REGISTRY, origin=origin)
    assert decoded.message == EVENT
    assert decoded.message_id == MESSAGE_ID
    assert decoded.source == SOURCE
    assert decoded.created == CREATED
    assert decoded.timestamp == datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)
    assert (decoded.tenant_id, decoded.correlation_id, decoded.causation_id) == (
        str(TENANT),
        "corr-1",
        "cause-1",
    )
    assert decoded.attempts == 3
    assert decoded.headers == original.headers
    assert decoded.origin is origin
    again, again_headers = cloudevents.encode(decoded)
    assert (again, sorted(again_headers)) == (value, sorted(headers))


@pytest.mark.parametrize("casing", ["camel", "snake", "pascal"])
def test_round_trip_other_payloads(casing: Any) -> None:
    for message in (CUSTOMER, EVERYTHING):
        value, headers = cloudevents.encode(Envelope(message, source=SOURCE), casing=casing)
        assert cloudevents.decode(value, headers, REGISTRY).message == message


def test_decode_accepts_header_dicts_str_values_and_upper_case_names() -> None:
    headers: dict[str, bytes | str | None] = {
        "CE_SPECVERSION": "1.0",
        "ce_id": str(MESSAGE_ID),
        "Ce_Type": TYPE.encode(),
        "ce_source": SOURCE.encode(),
        "Content-Type": b"application/json; charset=utf-8",
        "ce_tenantid": None,
        "x-none": None,
    }
    decoded = cloudevents.decode(json.dumps(DATA).encode(), headers, REGISTRY)
    assert decoded.message == EVENT
    assert decoded.tenant_id is None
    assert decoded.headers == {}


def test_decode_keeps_unknown_attributes_and_plain_headers() -> None:
    headers = _binary_headers(ce_subject=b"cashier-1", ce_partitionkey=b"k", traceparent=b"tp")
    headers.append(("ce_traceparent", TRACEPARENT.encode()))
    decoded = cloudevents.decode(json.dumps(DATA).encode(), headers, REGISTRY)
    assert decoded.headers == {
        "traceparent": TRACEPARENT,  # the CloudEvents attribute wins over the plain header
        "ce_subject": "cashier-1",
        "ce_partitionkey": "k",
    }


def test_decode_without_time_uses_now_and_without_content_type_assumes_json() -> None:
    headers = [h for h in _binary_headers() if h[0] not in ("ce_time", "content-type")]
    decoded = cloudevents.decode(json.dumps(DATA).encode(), headers, REGISTRY)
    assert decoded.message == EVENT
    assert decoded.created > CREATED


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        ("2024-05-01T12:30:15Z", 1714566615.0),
        ("2024-05-01T14:30:15.25+02:00", CREATED),
        ("2024-05-01T12:30:15.2500000Z", CREATED),  # .NET writes 7 fractional digits
        ("2024-05-01T12:30:15.25", CREATED),  # no offset: UTC
    ],
)
def test_decode_time_formats(time: str, expected: float) -> None:
    headers = [(n, v) for n, v in _binary_headers() if n != "ce_time"] + [
        ("ce_time", time.encode())
    ]
    assert cloudevents.decode(json.dumps(DATA), headers, REGISTRY).created == expected


def test_non_uuid_id_becomes_a_stable_name_based_uuid() -> None:
    headers = [(n, v if n != "ce_id" else b"order-42") for n, v in _binary_headers()]
    first = cloudevents.decode(json.dumps(DATA), headers, REGISTRY).message_id
    again = cloudevents.decode(json.dumps(DATA), headers, REGISTRY).message_id
    assert (
        first == again == uuid5(UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), f"{SOURCE}#order-42")
    )


def _structured(event: dict[str, Any], content_type: bytes = b"application/cloudevents+json"):  # type: ignore[no-untyped-def]
    return json.dumps(event).encode(), [("content-type", content_type), ("x-app", b"1")]


STRUCTURED = {
    "specversion": "1.0",
    "id": str(MESSAGE_ID),
    "type": TYPE,
    "source": SOURCE,
    "time": TIME,
    "datacontenttype": "application/json",
    "tenantid": str(TENANT),
    "correlationid": "corr-1",
    "attempts": 2,
    "traceparent": TRACEPARENT,
    "subject": "cashier-1",
    "flag": True,
    "data": DATA,
}


def test_decode_structured_mode_with_data() -> None:
    decoded = cloudevents.decode(*_structured(STRUCTURED), REGISTRY)
    assert decoded.message == EVENT
    assert decoded.message_id == MESSAGE_ID
    assert (decoded.source, decoded.created, decoded.attempts) == (SOURCE, CREATED, 2)
    assert (decoded.tenant_id, decoded.correlation_id, decoded.causation_id) == (
        str(TENANT),
        "corr-1",
        None,
    )
    assert decoded.headers == {
        "x-app": "1",
        "traceparent": TRACEPARENT,
        "ce_subject": "cashier-1",
        "ce_flag": "true",
    }


def test_decode_structured_mode_with_data_base64_and_charset() -> None:
    event = {k: v for k, v in STRUCTURED.items() if k != "data"}
    event["data_base64"] = base64.b64encode(json.dumps(DATA).encode()).decode()
    decoded = cloudevents.decode(
        *_structured(event, b"application/cloudevents+json; charset=UTF-8"), REGISTRY
    )
    assert decoded.message == EVENT


def test_decode_structured_keeps_decimal_digits() -> None:
    value, _ = cloudevents.encode(Envelope(EVERYTHING, source=SOURCE))
    event = {**STRUCTURED, "type": "momentum_fixture_codec.Everything"}
    text = json.dumps({**event, "data": "DATA"}).replace('"DATA"', value.decode())
    decoded = cloudevents.decode(
        text.encode(), [("content-type", b"application/cloudevents+json")], REGISTRY
    )
    assert decoded.message == EVERYTHING
    assert decoded.message.amount == Decimal("12345678901234567890.123456789")


# --- decode errors -----------------------------------------------------------------------------


def _without(name: str) -> list[tuple[str, bytes]]:
    return [h for h in _binary_headers() if h[0] != name]


def _replaced(name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [(n, value if n == name else v) for n, v in _binary_headers()]


BODY = json.dumps(DATA).encode()

ERROR_CASES: list[tuple[str, bytes | None, Any, type[MessageDecodeError], str, str]] = [
    ("no headers", BODY, None, InvalidCloudEventError, "invalid-cloudevent", "not a CloudEvent"),
    (
        "plain json record",
        BODY,
        [("content-type", b"application/json")],
        InvalidCloudEventError,
        "invalid-cloudevent",
        "no ce_specversion",
    ),
    (
        "specversion 0.3",
        BODY,
        _replaced("ce_specversion", b"0.3"),
        UnsupportedSpecVersionError,
        "unsupported-specversion",
        "'0.3'",
    ),
    ("no id", BODY, _without("ce_id"), InvalidCloudEventError, "invalid-cloudevent", "'id'"),
    (
        "empty source",
        BODY,
        _replaced("ce_source", b""),
        InvalidCloudEventError,
        "invalid-cloudevent",
        "'source'",
    ),
    ("no type", BODY, _without("ce_type"), InvalidCloudEventError, "invalid-cloudevent", "'type'"),
    (
        "garbled time",
        BODY,
        _replaced("ce_time", b"yesterday"),
        InvalidCloudEventError,
        "invalid-cloudevent",
        "'time'",
    ),
    (
        "non-utf8 attribute",
        BODY,
        _replaced("ce_source", b"\xff"),
        InvalidCloudEventError,
        "invalid-cloudevent",
        "UTF-8",
    ),
    (
        "attempts zero",
        BODY,
        [*_binary_headers(), ("ce_attempts", b"0")],
        InvalidCloudEventError,
        "invalid-cloudevent",
        "'attempts'",
    ),
    (
        "attempts text",
        BODY,
        [*_binary_headers(), ("ce_attempts", b"two")],
        InvalidCloudEventError,
        "invalid-cloudevent",
        "'attempts'",
    ),
    (
        "unknown type",
        BODY,
        _replaced("ce_type", b"Other.Thing"),
        UnknownCloudEventTypeError,
        "unknown-type",
        "'Other.Thing'",
    ),
    (
        "xml content",
        BODY,
        _replaced("content-type", b"application/xml"),
        UnsupportedContentTypeError,
        "unsupported-content-type",
        "application/xml",
    ),
    ("bad json", b"{nope", _binary_headers(), InvalidJsonError, "invalid-json", "not valid"),
    ("no value", None, _binary_headers(), InvalidJsonError, "invalid-json", "CashierCreated"),
    (
        "schema mismatch",
        b'{"tenantId": "x"}',
        _binary_headers(),
        SchemaMismatchError,
        "schema-mismatch",
        "cashier: Field required",
    ),
    (
        "batch",
        b"[]",
        [("content-type", b"application/cloudevents-batch+json")],
        UnsupportedContentTypeError,
        "unsupported-content-type",
        "batch",
    ),
    (
        "structured not an object",
        b"[1]",
        [("content-type", b"application/cloudevents+json")],
        InvalidCloudEventError,
        "invalid-cloudevent",
        "JSON object",
    ),
    (
        "structured bad json",
        b"{",
        [("content-type", b"application/cloudevents+json")],
        InvalidJsonError,
        "invalid-json",
        "not valid",
    ),
    (
        "structured id not a string",
        json.dumps({**STRUCTURED, "id": 5}).encode(),
        [("content-type", b"application/cloudevents+json")],
        InvalidCloudEventError,
        "invalid-cloudevent",
        "'id' is invalid (5)",
    ),
    (
        "structured specversion",
        json.dumps({**STRUCTURED, "specversion": "0.3"}).encode(),
        [("content-type", b"application/cloudevents+json")],
        UnsupportedSpecVersionError,
        "unsupported-specversion",
        "'0.3'",
    ),
    (
        "structured bad base64",
        json.dumps({**STRUCTURED, "data": None, "data_base64": "%%%"}).encode(),
        [("content-type", b"application/cloudevents+json")],
        InvalidCloudEventError,
        "invalid-cloudevent",
        "data_base64",
    ),
    (
        "structured text data",
        json.dumps({**STRUCTURED, "datacontenttype": "text/plain"}).encode(),
        [("content-type", b"application/cloudevents+json")],
        UnsupportedContentTypeError,
        "unsupported-content-type",
        "text/plain",
    ),
    (
        "structured no data",
        json.dumps({k: v for k, v in STRUCTURED.items() if k != "data"}).encode(),
        [("content-type", b"application/cloudevents+json")],
        SchemaMismatchError,
        "schema-mismatch",
        "CashierCreated",
    ),
    (
        "structured unknown type",
        json.dumps({**STRUCTURED, "type": "Nope"}).encode(),
        [("content-type", b"application/cloudevents+json")],
        UnknownCloudEventTypeError,
        "unknown-type",
        "'Nope'",
    ),
]


@pytest.mark.parametrize(
    ("value", "headers", "error", "reason", "fragment"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_decode_errors(
    value: bytes | None,
    headers: Any,
    error: type[MessageDecodeError],
    reason: str,
    fragment: str,
) -> None:
    with pytest.raises(error) as caught:
        cloudevents.decode(value, headers, REGISTRY)
    assert type(caught.value) is error
    assert caught.value.reason == reason
    assert fragment in str(caught.value)


def test_unknown_type_is_also_an_unknown_message_type_error() -> None:
    with pytest.raises(UnknownMessageTypeError) as caught:
        cloudevents.decode(BODY, _replaced("ce_type", b"Other.Thing"), REGISTRY)
    assert isinstance(caught.value, UnknownCloudEventTypeError)
    assert caught.value.type_name == "Other.Thing"


def test_invalid_attribute_names_the_attribute() -> None:
    with pytest.raises(InvalidCloudEventError) as caught:
        cloudevents.decode(BODY, _replaced("ce_time", b"x"), REGISTRY)
    assert caught.value.attribute == "time"


# --- interoperability with the official SDK ----------------------------------------------------

EXPECTED_ATTRIBUTES = {
    "specversion": "1.0",
    "id": str(MESSAGE_ID),
    "type": TYPE,
    "source": SOURCE,
    "datacontenttype": "application/json",
    "tenantid": str(TENANT),
    "correlationid": "corr-1",
    "causationid": "cause-1",
    "traceparent": TRACEPARENT,
    "tracestate": "k=v",
}


def test_sdk_v1_reads_what_we_write() -> None:
    value, headers = cloudevents.encode(
        _envelope(headers={"traceparent": TRACEPARENT, "tracestate": "k=v"})
    )
    event = v1_kafka.from_binary(v1_kafka.KafkaMessage(dict(headers), None, value))
    attributes = dict(event.get_attributes())
    assert attributes.pop("time") == TIME
    assert attributes == EXPECTED_ATTRIBUTES
    assert event.get_data() == DATA


@needs_core_sdk
def test_sdk_core_reads_what_we_write() -> None:
    value, headers = cloudevents.encode(
        _envelope(headers={"traceparent": TRACEPARENT, "tracestate": "k=v"})
    )
    event = core_kafka.from_binary(
        core_kafka.KafkaMessage(dict(headers), None, value), JSONFormat()
    )
    attributes = dict(event.get_attributes())
    assert attributes.pop("time") == datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)
    assert attributes == EXPECTED_ATTRIBUTES
    assert event.get_data() == DATA


SDK_ATTRIBUTES = {
    "type": TYPE,
    "source": SOURCE,
    "id": str(MESSAGE_ID),
    "time": TIME,
    "datacontenttype": "application/json",
    "tenantid": str(TENANT),
    "correlationid": "corr-1",
    "causationid": "cause-1",
    "traceparent": TRACEPARENT,
}


def _v1_binary() -> tuple[bytes, Any]:
    message = v1_kafka.to_binary(V1CloudEvent(dict(SDK_ATTRIBUTES), DATA))
    return message.value, message.headers


def _v1_structured() -> tuple[bytes, Any]:
    message = v1_kafka.to_structured(V1CloudEvent(dict(SDK_ATTRIBUTES), DATA))
    return message.value, message.headers


def _core_event() -> CoreCloudEvent:
    attributes = {**SDK_ATTRIBUTES, "time": datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)}
    return CoreCloudEvent(attributes=attributes, data=DATA)


def _core_binary() -> tuple[bytes, Any]:
    message = core_kafka.to_binary(_core_event(), JSONFormat())
    return message.value, message.headers


def _core_structured() -> tuple[bytes, Any]:
    message = core_kafka.to_structured(_core_event(), JSONFormat())
    return message.value, message.headers


def _core_structured_base64() -> tuple[bytes, Any]:
    attributes = {**SDK_ATTRIBUTES, "time": datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)}
    event = CoreCloudEvent(attributes=attributes, data=json.dumps(DATA).encode())
    message = core_kafka.to_structured(event, JSONFormat())
    assert b"data_base64" in message.value
    return message.value, message.headers


@pytest.mark.parametrize(
    "produce",
    [
        _v1_binary,
        _v1_structured,
        pytest.param(_core_binary, marks=needs_core_sdk),
        pytest.param(_core_structured, marks=needs_core_sdk),
        pytest.param(_core_structured_base64, marks=needs_core_sdk),
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_we_read_what_the_sdk_writes(produce: Callable[[], tuple[bytes, Any]]) -> None:
    value, headers = produce()
    decoded = cloudevents.decode(value, headers, REGISTRY)
    assert decoded.message == EVENT
    assert decoded.message_id == MESSAGE_ID
    assert (decoded.source, decoded.created) == (SOURCE, CREATED)
    assert (decoded.tenant_id, decoded.correlation_id, decoded.causation_id) == (
        str(TENANT),
        "corr-1",
        "cause-1",
    )
    assert decoded.headers == {"traceparent": TRACEPARENT}
    assert decoded.attempts == 1


def test_we_read_sdk_v1_structured_events_with_defaults_and_no_content_type() -> None:
    event = V1CloudEvent({"type": TYPE, "source": SOURCE}, DATA)  # SDK-made id and time
    message = v1_kafka.to_structured(event)
    assert "content-type" not in message.headers
    decoded = cloudevents.decode(message.value, message.headers, REGISTRY)
    assert decoded.message == EVENT
    assert decoded.message_id == UUID(event["id"])
    assert decoded.timestamp == datetime.fromisoformat(event["time"])


@needs_core_sdk
def test_sdk_round_trips_our_structured_reading_of_its_binary_output() -> None:
    value, headers = cloudevents.encode(_envelope())
    sdk_event = core_kafka.from_binary(
        core_kafka.KafkaMessage(dict(headers), None, value), JSONFormat()
    )
    structured = core_kafka.to_structured(sdk_event, JSONFormat())
    decoded = cloudevents.decode(structured.value, structured.headers, REGISTRY)
    assert decoded.message == EVENT
    assert decoded.message_id == MESSAGE_ID
    assert decoded.created == CREATED
    # the SDK keeps CloudEvents attributes only: the plain `x-app` header is not carried over
    assert decoded.headers == {"traceparent": TRACEPARENT, "tracestate": "k=v"}
