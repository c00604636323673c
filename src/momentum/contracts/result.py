"""``Result`` and ``ValidationFailure``: the outcome of a command without exceptions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar, final

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ValidationFailure:
    """One reason a message is invalid.

    Attributes:
        field: Name of the offending field (empty for the message as a whole).
        message: Human-readable explanation.
    """

    field: str
    message: str


@final
class Result(Generic[T]):
    """Either a value (success) or a list of validation failures.

    Create one with :meth:`ok` or :meth:`fail`; a failed result has no value.
    """

    __slots__ = ("_failures", "_value")

    def __init__(self, value: T | None, failures: tuple[ValidationFailure, ...]) -> None:
        self._value = value
        self._failures = failures

    @classmethod
    def ok(cls, value: T) -> Result[T]:
        """A successful result carrying ``value``."""
        return cls(value, ())

    @classmethod
    def fail(cls, failures: Iterable[ValidationFailure] | ValidationFailure) -> Result[T]:
        """A failed result; ``failures`` must not be empty."""
        items = (failures,) if isinstance(failures, ValidationFailure) else tuple(failures)
        if not items:
            raise ValueError("Result.fail() needs at least one ValidationFailure")
        return cls(None, items)

    @property
    def is_success(self) -> bool:
        """True when the result carries a value rather than failures."""
        return not self._failures

    @property
    def value(self) -> T:
        """The value of a successful result; raises ``ValueError`` on a failed one."""
        if self._failures:
            raise ValueError(f"Result failed and has no value: {self._failures!r}")
        return self._value  # type: ignore[return-value]

    @property
    def failures(self) -> tuple[ValidationFailure, ...]:
        """The validation failures (empty on success)."""
        return self._failures

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Result):
            return NotImplemented
        return self._value == other._value and self._failures == other._failures

    def __hash__(self) -> int:
        return hash((self._value, self._failures))

    def __repr__(self) -> str:
        if self._failures:
            return f"Result.fail({list(self._failures)!r})"
        return f"Result.ok({self._value!r})"
