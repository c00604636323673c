"""Hostile payloads are refused at a bounded cost, always with the typed decode error.

A 50-byte value such as `{"seq":1e10000000}` for an `int` field made the JSON codec build a
ten-million-digit integer (11 s here, minutes for larger exponents); deep nesting and
exponents beyond Decimal's range escaped `cloudevents.decode` as `RecursionError` and
`decimal.InvalidOperation`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal

import pytest

from momentum.contracts import cloudevents, serialization
from momentum.contracts.errors import InvalidJsonError, MessageDecodeError
from momentum.contracts.json_parsing import MAX_EXPONENT, MAX_NUMBER_LENGTH
from momentum.contracts.message_types import MessageTypeRegistry

BOUND_SECONDS = 0.5
"""Generous: the fixed code refuses each payload in well under a millisecond."""


@dataclass(frozen=True)
class Counted:
    __message_type__ = "Tests.Counted"
    seq: int


@dataclass(frozen=True)
class Priced:
    __message_type__ = "Tests.Priced"
    amount: Decimal


REGISTRY = MessageTypeRegistry([Counted, Priced])
DEEP = b"[" * 100_000 + b"]" * 100_000


def _binary(type_name: str) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"3d1f0a52-5b7e-4c2b-9f61-1e2d3c4b5a69"),
        ("ce_type", type_name.encode()),
        ("ce_source", b"/tests/hostile"),
        ("content-type", b"application/json"),
    ]


def _structured(type_name: str, data: bytes) -> bytes:
    head = json.dumps(
        {"specversion": "1.0", "id": "x-1", "type": type_name, "source": "/tests/hostile"}
    ).encode()
    return head[:-1] + b', "data": ' + data + b"}"


def test_a_huge_exponent_for_an_int_field_is_refused_at_once() -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidJsonError, match="out of range") as caught:
        serialization.decode(Counted, b'{"seq":1e10000000}')
    elapsed = time.perf_counter() - started
    assert elapsed < BOUND_SECONDS, f"took {elapsed:.2f} s"
    assert caught.value.reason == "invalid-json"
    assert caught.value.message_type is Counted

    started = time.perf_counter()
    with pytest.raises(InvalidJsonError, match="out of range"):
        cloudevents.decode(b'{"seq":1e10000000}', _binary("Tests.Counted"), REGISTRY)
    assert time.perf_counter() - started < BOUND_SECONDS


@pytest.mark.parametrize(
    ("type_name", "data", "fragment"),
    [
        # decimal.InvalidOperation from Decimal(...) before the fix
        ("Tests.Counted", b'{"seq": 1e99999999999999999999}', "out of range"),
        ("Tests.Priced", b'{"amount": 1e99999999999999999999}', "out of range"),
        ("Tests.Priced", b'{"amount": 1.5e-99999999999999999999}', "out of range"),
        # RecursionError from json.loads before the fix
        ("Tests.Counted", b'{"seq": ' + DEEP + b"}", "deeper than"),
        ("Tests.Priced", DEEP, "deeper than"),
        # accepted (as a 1001-digit Decimal) before the fix
        ("Tests.Priced", b'{"amount": 0.' + b"1" * MAX_NUMBER_LENGTH + b"}", "characters"),
        ("Tests.Priced", b'{"amount": 1e' + str(MAX_EXPONENT + 1).encode() + b"}", "range"),
    ],
    ids=["int-exp", "decimal-exp", "decimal-tiny", "deep-field", "deep-value", "long", "e401"],
)
def test_out_of_bounds_payloads_are_typed_decode_errors_in_both_modes(
    type_name: str, data: bytes, fragment: str
) -> None:
    for value, headers in (
        (data, _binary(type_name)),
        (_structured(type_name, data), [("content-type", b"application/cloudevents+json")]),
    ):
        started = time.perf_counter()
        with pytest.raises(MessageDecodeError, match=fragment) as caught:
            cloudevents.decode(value, headers, REGISTRY)
        assert time.perf_counter() - started < BOUND_SECONDS
        assert isinstance(caught.value, InvalidJsonError)
        assert caught.value.reason == "invalid-json"


def test_numbers_within_the_bounds_still_decode_exactly() -> None:
    assert serialization.decode(Priced, b'{"amount": 12.50}') == Priced(Decimal("12.50"))
    big = b'{"amount": 1e' + str(MAX_EXPONENT).encode() + b"}"
    assert serialization.decode(Priced, big) == Priced(Decimal(f"1e{MAX_EXPONENT}"))
    digits = "9" * (MAX_NUMBER_LENGTH - 2)
    assert serialization.decode(Priced, f'{{"amount": 0.{digits}}}'.encode()) == Priced(
        Decimal(f"0.{digits}")
    )
    assert serialization.decode(Counted, b'{"Seq": 1e3}') == Counted(1000)  # tolerant path
    assert serialization.decode(Counted, b'{"seq": 1' + b"0" * 300 + b"}") == Counted(10**300)
