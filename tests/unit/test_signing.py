"""Signed CloudEvents: the canonical form, HMAC-SHA256, rotation and every way to fail."""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Annotated

import pytest

from momentum import ConfigurationError, Envelope, PartitionKey, event_topic
from momentum.contracts.cloudevents import decode, encode
from momentum.contracts.errors import (
    MissingSignatureError,
    SignatureError,
    UnknownSigningKeyError,
)
from momentum.contracts.message_types import MessageTypeRegistry
from momentum.contracts.signing import CloudEventSigner, canonical_form

KEY_1 = b"k1-0123456789abcdef0123456789abcdef"
KEY_2 = b"k2-fedcba9876543210fedcba9876543210"


@event_topic("signed-orders", domain="SigningTests")
@dataclass(frozen=True)
class OrderPlaced:
    order_id: Annotated[str, PartitionKey()]
    amount: int


def record(**envelope: object) -> tuple[bytes, list[tuple[str, bytes]]]:
    defaults: dict[str, object] = {"source": "/signing_tests/shop", "tenant_id": "acme"}
    defaults.update(envelope)
    value, headers = encode(Envelope(OrderPlaced("o-1", 42), **defaults))  # type: ignore[arg-type]
    return value, list(headers)


def signer(**options: object) -> CloudEventSigner:
    values: dict[str, object] = {"signing_key_id": "k1", "signing_key": KEY_1}
    values.update(options)
    return CloudEventSigner(**values)  # type: ignore[arg-type]


def test_the_canonical_form_is_the_documented_bytes() -> None:
    found = {
        "ce_specversion": b"1.0",
        "ce_id": b"id-1",
        "ce_source": b"/s",
        "ce_type": b"T",
        "content-type": b"application/json",
        "ce_tenantid": b"acme",
        "ce_traceparent": b"not signed",
    }
    absent = b"\xff"
    assert canonical_form(found, b'{"a":1}') == b"\0".join(
        [
            b"momentum-ce-hmac-v1\n1.0",
            b"id-1",
            b"/s",
            b"T",
            absent,  # time
            b"application/json",
            absent,  # subject
            absent,  # dataschema
            b"acme",
            absent,  # correlationid
            absent,  # causationid
            absent,  # attempts
            b'{"a":1}',
        ]
    )


@pytest.mark.parametrize("size", [16, 32, 63, 64, 65, 200])
def test_the_signature_is_hmac_sha256_of_the_canonical_form(size: int) -> None:
    key = secrets.token_bytes(size)
    value, headers = record()
    signed = CloudEventSigner("k", key).signed(value, headers)
    found = dict(signed)
    expected = hmac.new(key, canonical_form(found, value), "sha256").hexdigest().encode()
    assert found["ce_signature"] == expected and found["ce_signaturekeyid"] == b"k"


def test_a_signed_record_verifies_and_decodes_with_its_signature_dropped() -> None:
    value, headers = record(correlation_id="c-1", headers={"traceparent": "00-" + "1" * 32})
    signer().sign(value, headers)
    signer(required=True).verify(value, headers)
    envelope = decode(value, headers, MessageTypeRegistry([OrderPlaced]))
    assert envelope.message == OrderPlaced("o-1", 42) and envelope.tenant_id == "acme"
    assert not any("signature" in name for name in envelope.headers)
    # what is not signed may change on the way (trace context, plain headers)
    moved = [(n, b"00-" + b"2" * 32 if n == "ce_traceparent" else v) for n, v in headers]
    signer(required=True).verify(value, [*moved, ("momentum-replay-group", b"g")])


@pytest.mark.parametrize(
    "attribute",
    [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "content-type",
        "ce_tenantid",
        "ce_correlationid",
    ],
)
def test_changing_any_signed_attribute_breaks_the_signature(attribute: str) -> None:
    value, headers = record(correlation_id="c-1")
    signer().sign(value, headers)
    changed = [(n, v + b"x" if n == attribute else v) for n, v in headers]
    with pytest.raises(SignatureError, match="does not match") as raised:
        signer().verify(value, changed)
    assert raised.value.reason == "invalid-signature"


def test_adding_or_dropping_a_signed_attribute_breaks_the_signature() -> None:
    value, headers = record(tenant_id=None)
    signer().sign(value, headers)
    for extra in [("ce_tenantid", b"acme"), ("ce_subject", b"s"), ("ce_attempts", b"2")]:
        with pytest.raises(SignatureError):
            signer().verify(value, [*headers, extra])
    value, headers = record()
    signer().sign(value, headers)
    with pytest.raises(SignatureError):
        signer().verify(value, [h for h in headers if h[0] != "ce_tenantid"])


def test_a_tampered_payload_breaks_the_signature() -> None:
    value, headers = record()
    signer().sign(value, headers)
    tampered = json.dumps({**json.loads(value), "amount": 4200}).encode()
    with pytest.raises(SignatureError, match="changed after signing"):
        signer().verify(tampered, headers)


def test_another_spelling_of_a_signed_header_is_read_as_the_decoder_reads_it() -> None:
    # the decoder lower-cases names and the last value wins: an appended "CE_TENANTID"
    # would change the tenant, so the verifier reads it too and the signature breaks
    value, headers = record()
    signer().sign(value, headers)
    injected = [*headers, ("CE_TENANTID", b"globex")]
    assert decode(value, injected, MessageTypeRegistry([OrderPlaced])).tenant_id == "globex"
    with pytest.raises(SignatureError):
        signer().verify(value, injected)
    null_after = [*headers, ("ce_tenantid", None)]  # a null value: the decoder keeps "acme"
    signer().verify(value, null_after)  # type: ignore[arg-type]


def test_a_nul_byte_in_a_signed_attribute_is_refused_both_ways() -> None:
    value, headers = record(tenant_id="ac\0me")
    with pytest.raises(SignatureError, match="NUL"):
        signer().sign(value, headers)
    good_value, good = record()
    signer().sign(good_value, good)
    with pytest.raises(SignatureError):
        signer().verify(good_value, [(n, b"a\0b" if n == "ce_id" else v) for n, v in good])


def test_unknown_key_ids_and_missing_signatures_are_told_apart() -> None:
    value, headers = record()
    CloudEventSigner("k9", secrets.token_bytes(32)).sign(value, headers)
    with pytest.raises(UnknownSigningKeyError, match=r"key id 'k9'.*\(k1, k2\)") as unknown:
        signer(verification_keys={"k2": KEY_2}).verify(value, headers)
    assert unknown.value.reason == "unknown-signing-key" and unknown.value.key_id == "k9"
    bare_value, bare = record()
    signer().verify(bare_value, bare)  # not required: an unsigned record passes
    with pytest.raises(MissingSignatureError, match="not signed") as missing:
        signer(required=True).verify(bare_value, bare)
    assert missing.value.reason == "missing-signature"
    structured = json.dumps({"specversion": "1.0", "id": "1", "source": "/s", "type": "T"})
    with pytest.raises(MissingSignatureError):
        signer(required=True).verify(
            structured.encode(), [("content-type", b"application/cloudevents+json")]
        )
    half = [*bare, ("ce_signaturekeyid", b"k1")]
    with pytest.raises(MissingSignatureError, match="without its ce_signature"):
        signer().verify(bare_value, half)


def test_rotation_signs_with_one_key_and_verifies_with_several() -> None:
    old_value, old = record()
    CloudEventSigner("k1", KEY_1).sign(old_value, old)
    new_value, new = record()
    CloudEventSigner("k2", KEY_2).sign(new_value, new)
    rotating = CloudEventSigner("k2", KEY_2, {"k1": KEY_1}, required=True)
    rotating.verify(old_value, old)
    rotating.verify(new_value, new)
    assert rotating.key_ids == ["k1", "k2"] and rotating.signing_key_id == "k2"
    retired = CloudEventSigner("k2", KEY_2, required=True)
    with pytest.raises(UnknownSigningKeyError):
        retired.verify(old_value, old)


def test_text_header_values_from_other_clients_are_read_as_utf8() -> None:
    value, headers = record()
    signer().sign(value, headers)
    as_text = [(n, v.decode()) for n, v in headers]
    signer(required=True).verify(value.decode(), as_text)  # type: ignore[arg-type]
    signer(required=True).verify(value, dict(as_text))  # type: ignore[arg-type]


def test_keys_are_never_shown() -> None:
    made = signer(verification_keys={"k2": KEY_2}, required=True)
    shown = repr(made) + str(made)
    assert "k1" in shown and "k2" in shown
    assert KEY_1.decode() not in shown and KEY_2.decode() not in shown


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"signing_key": b"short"}, "shorter than 16 bytes"),
        ({"signing_key_id": "bad id"}, "must be 1-64 letters"),
        ({"signing_key_id": None}, "both a key id"),
        ({"verification_keys": {"k1": KEY_2}}, "one id names one key"),
        ({"verification_keys": {"k2": b"short"}}, "verification_keys"),
    ],
)
def test_bad_keys_are_configuration_errors_naming_no_key(
    options: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigurationError, match=problem) as raised:
        signer(**options)
    assert KEY_1.decode() not in str(raised.value) and KEY_2.decode() not in str(raised.value)
    with pytest.raises(ConfigurationError, match="no key verifies them"):
        CloudEventSigner(required=True)
