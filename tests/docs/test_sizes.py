"""Payload size estimates: exact for bounded payloads, marked as estimates otherwise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Annotated, Literal
from uuid import UUID, uuid4

from pydantic import Field

from momentum.contracts.serialization import codec
from momentum.docs.examples import example
from momentum.docs.schemas import wire_schema
from momentum.docs.sizes import NUMBER, UNBOUNDED_ITEMS, UNBOUNDED_STRING, estimate

PLUS_TWO = timezone(timedelta(hours=2))


class Level(Enum):
    LOW = "low"
    HIGHEST = "highest-level"


@dataclass(frozen=True)
class Item:
    code: Annotated[str, Field(max_length=8)]
    count: Annotated[int, Field(ge=-50, le=1000)]


@dataclass(frozen=True)
class Bounded:
    id: UUID
    at: datetime
    at_time: time
    day: date
    flag: bool
    level: Level
    kind: Literal["a", "bbb"]
    name: Annotated[str, Field(max_length=20)]
    items: Annotated[list[Item], Field(max_length=3)]
    pair: tuple[int, bool]
    maybe: Annotated[str, Field(max_length=5)] | None


def largest() -> Bounded:
    return Bounded(
        id=uuid4(),
        at=datetime(2024, 5, 1, 12, 0, 0, 999999, tzinfo=PLUS_TWO),
        at_time=time(12, 0, 0, 999999, tzinfo=PLUS_TWO),
        day=date(2024, 5, 1),
        flag=False,
        level=Level.HIGHEST,
        kind="bbb",
        name="x" * 20,
        items=[Item("y" * 8, 1000)] * 3,
        pair=(-9223372036854775808, False),
        maybe="z" * 5,
    )


def test_a_bounded_payload_estimate_is_its_largest_encoding() -> None:
    schema = wire_schema(Bounded, "camel").schema
    size = estimate(schema)
    assert size.bounded and size.unbounded == ()
    assert size.bytes == len(codec(Bounded).encode(largest()))
    smaller = Bounded(**{**largest().__dict__, "maybe": None, "items": []})
    assert len(codec(Bounded).encode(smaller)) < size.bytes


@dataclass(frozen=True)
class Unbounded:
    name: str
    tags: list[str]
    counts: dict[str, int]
    when: datetime


def test_an_unbounded_payload_is_an_estimate_naming_the_fields() -> None:
    size = estimate(wire_schema(Unbounded, "camel").schema)
    assert not size.bounded
    assert size.unbounded == ("name", "tags[]", "counts{}")
    assumed = Unbounded(
        name="n" * UNBOUNDED_STRING,
        tags=["t" * UNBOUNDED_STRING] * UNBOUNDED_ITEMS,
        counts={f"{i:0{UNBOUNDED_STRING}d}": -(2**63) for i in range(UNBOUNDED_ITEMS)},
        when=datetime(2024, 5, 1, 12, 0, 0, 999999, tzinfo=PLUS_TWO),
    )
    assert size.bytes == len(codec(Unbounded).encode(assumed))  # what the estimate assumes
    assert str(size) == f"about {size.bytes} bytes (estimate)"
    assert size.short() == f"~{size.bytes}"


@dataclass(frozen=True)
class Amounts:
    exact: Decimal
    rough: float


def test_numbers_count_their_documented_size() -> None:
    size = estimate(wire_schema(Amounts, "camel").schema)
    assert size.bounded and size.bytes == len('{"exact":,"rough":}') + 2 * NUMBER
    encoded = codec(Amounts).encode(
        Amounts(Decimal("-12345678901234567.12345"), -1.7976931348623157e308)
    )
    assert len(encoded) <= size.bytes


@dataclass(frozen=True)
class Category:
    name: Annotated[str, Field(max_length=5)]
    children: Annotated[list[Category], Field(max_length=2)]
    parent: Category | None = None


def test_recursive_types_end() -> None:
    schema = wire_schema(Category, "camel").schema
    size = estimate(schema)
    assert not size.bounded and size.bytes > 0
    value = example(schema)
    assert value == {"name": "strin", "children": [], "parent": None}
    assert codec(Category).decode(json.dumps(value)) == Category("strin", [], None)


def test_utc_datetimes_are_shorter_than_the_documented_maximum() -> None:
    at = datetime(2024, 5, 1, 12, 0, 0, 999999, tzinfo=UTC)
    assert len(json.dumps(at.isoformat())) <= 34
