"""Result, ValidationFailure, and the response type of Command[R] / Query[R]."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from momentum import Command, Query, Result, ValidationFailure
from momentum.contracts.messages import response_type


def test_result_ok_and_fail() -> None:
    ok = Result.ok(5)
    assert ok.is_success and ok.value == 5 and ok.failures == ()
    failure = ValidationFailure("name", "required")
    failed: Result[int] = Result.fail([failure])
    assert not failed.is_success and failed.failures == (failure,)
    assert Result.fail(failure) == failed  # a single failure is accepted too
    with pytest.raises(ValueError, match="no value"):
        _ = failed.value
    with pytest.raises(ValueError, match="at least one"):
        Result.fail([])
    assert repr(ok) == "Result.ok(5)" and "required" in repr(failed)
    assert Result.ok(None).is_success and Result.ok(None).value is None
    assert hash(Result.ok(1)) == hash(Result.ok(1))


@dataclass(frozen=True)
class A(Command[Result[int]]):
    pass


@dataclass(frozen=True)
class B(Query[list[str]]):
    pass


@dataclass(frozen=True)
class C(A):
    pass


@dataclass(frozen=True)
class D:
    pass


@pytest.mark.parametrize(
    ("message_type", "expected"),
    [(A, Result[int]), (B, list[str]), (C, Result[int]), (D, None)],
)
def test_response_type(message_type: type, expected: object) -> None:
    assert response_type(message_type) == expected
