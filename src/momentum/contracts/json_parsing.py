"""JSON text to Python values at a bounded cost: what inbound payloads are parsed with.

The standard library parser is used (``json.loads``), with every fractional number kept
exactly as a :class:`~decimal.Decimal`. Three bounds keep a small hostile payload from holding
the consumer for seconds or minutes, each failing with :class:`InvalidJsonError` at once:

- a number has at most :data:`MAX_NUMBER_LENGTH` characters;
- a number's decimal exponent is at most :data:`MAX_EXPONENT` either way: the 18 bytes
  ``{"seq":1e10000000}`` would otherwise become a ten-million-digit integer for an ``int``
  field (a double's range ends near ``1e308``, a .NET ``decimal``'s near ``7.9e28``);
- arrays and objects nest at most as deep as the interpreter's recursion limit allows
  (``RecursionError`` is translated, never raised).

The size of the payload itself is bounded by the transport (a Kafka record: the broker's
``message.max.bytes``, 1 MiB by default); parsing is linear in it.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from momentum.contracts.errors import InvalidJsonError

MAX_NUMBER_LENGTH: Final = 1000
"""Characters of one JSON number read at most."""

MAX_EXPONENT: Final = 400
"""Largest decimal exponent (either sign) of a JSON number read."""


class _NumberOutOfBoundsError(ValueError):
    """A JSON number longer than :data:`MAX_NUMBER_LENGTH` or beyond :data:`MAX_EXPONENT`."""


def _check_length(text: str) -> None:
    if len(text) > MAX_NUMBER_LENGTH:
        raise _NumberOutOfBoundsError(
            f"a number of {len(text)} characters (at most {MAX_NUMBER_LENGTH} are read)"
        )


def _bounded_int(text: str) -> int:
    _check_length(text)
    return int(text)


def _bounded_decimal(text: str) -> Decimal:
    _check_length(text)
    try:
        value = Decimal(text)
    except InvalidOperation:  # an exponent beyond what Decimal represents at all
        value = None
    if value is None or not -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
        raise _NumberOutOfBoundsError(
            f"number {text[:40]} out of range (decimal exponents up to {MAX_EXPONENT} are read)"
        )
    return value


_DECODER: Final = json.JSONDecoder(parse_float=_bounded_decimal, parse_int=_bounded_int)
"""One decoder for every call (``json.loads`` with hooks builds a decoder per call)."""


def parse_bounded_json(
    data: bytes | bytearray | memoryview | str,
    message_type: type | None = None,
    name: str | None = None,
) -> Any:
    """The value of the JSON text ``data`` (fractional numbers as ``Decimal``).

    Args:
        data: UTF-8 JSON text.
        message_type: The class the payload is meant for, carried by the error.
        name: How the error names that class (its qualified name).

    Raises:
        InvalidJsonError: The text is not UTF-8 JSON, or exceeds a bound (see the module).
    """
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        return _DECODER.decode(text)
    except UnicodeDecodeError as exc:
        problem = f"payload is not valid UTF-8 JSON: {exc}"
    except _NumberOutOfBoundsError as exc:
        problem = f"payload has {exc}"
    except ValueError as exc:  # JSONDecodeError; more int digits than the interpreter converts
        problem = f"payload is not valid JSON: {exc}"
    except RecursionError:
        problem = "payload nests arrays or objects deeper than the recursion limit"
    raise InvalidJsonError(f"{name}: {problem}" if name else problem, message_type=message_type)
