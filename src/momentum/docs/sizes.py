"""Estimated size of a payload on the wire, from its JSON Schema.

The payload is compact JSON (``{"tenantId":"...","cashier":{...}}``, as the codec writes it),
so an object costs its braces, each property its quoted name, a colon and a comma between
properties; every property counts, since the codec writes optional ones too. Values count
with these sizes (bytes, JSON quotes included):

============================  ===================================================================
``null``                      4
``boolean``                   5 (``false``)
``integer``                   20 (``-9223372036854775808``, the int64 range), or the widest of its
                              declared ``minimum``/``maximum``
``number`` (float, Decimal)   24 (``-1.7976931348623157e+308``)
string ``uuid``               38
string ``date-time``          34 (``2024-05-01T12:00:00.000000+02:00``)
string ``date``               12
string ``time``               23 (``12:00:00.000000+02:00``)
string with ``maxLength N``   N + 2 (ASCII characters; each other character takes 2-4 bytes)
enum, const                   the longest of its values
array with ``maxItems N``     N items, commas and brackets (a tuple: its items)
============================  ===================================================================

A string without ``maxLength`` counts as :data:`UNBOUNDED_STRING` characters, an array
without ``maxItems`` as :data:`UNBOUNDED_ITEMS` items, a map as that many entries with such
keys, and a recursive reference as ``null``: the size is then an *estimate* (the maximum
is unknown), and :attr:`Size.unbounded` names the fields responsible.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from momentum.docs.schemas import non_null, ref_name, resolve

UNBOUNDED_STRING: Final = 32
"""Characters assumed for a string that declares no ``maxLength``."""
UNBOUNDED_ITEMS: Final = 10
"""Items assumed for an array (or entries for a map) that declares no bound."""

NULL: Final = 4
BOOLEAN: Final = 5
INTEGER: Final = 20
NUMBER: Final = 24
STRING_FORMATS: Final = {"uuid": 38, "date-time": 34, "date": 12, "time": 23}


@dataclass(frozen=True, slots=True)
class Size:
    """An estimated payload size.

    Attributes:
        bytes: Largest size in bytes, exact when nothing is unbounded.
        unbounded: Paths of the fields without a declared bound (``cashier.name``,
            ``lines[]``); empty when :attr:`bytes` is a true maximum.
    """

    bytes: int
    unbounded: tuple[str, ...] = ()

    @property
    def bounded(self) -> bool:
        """Whether :attr:`bytes` is a maximum (no unbounded string, list or map)."""
        return not self.unbounded

    def short(self) -> str:
        """``≤ 38`` when bounded, ``~120`` when an estimate."""
        return f"≤ {self.bytes}" if self.bounded else f"~{self.bytes}"

    def __str__(self) -> str:
        if self.bounded:
            return f"at most {self.bytes} bytes"
        return f"about {self.bytes} bytes (estimate)"


def _join(*parts: Size, extra: int = 0) -> Size:
    total = extra + sum(part.bytes for part in parts)
    unbounded = tuple(dict.fromkeys(path for part in parts for path in part.unbounded))
    return Size(total, unbounded)


def _digits(value: Any) -> int:
    return len(str(int(value))) if isinstance(value, int | float) else INTEGER


class _Estimator:
    def __init__(self, defs: Mapping[str, Any]) -> None:
        self.defs = defs
        self.stack: list[str] = []

    def size(self, node: Any, path: str) -> Size:
        if not isinstance(node, Mapping):
            return Size(NULL, (path or "(payload)",))
        name = ref_name(node)
        if name is not None:
            if name in self.stack:  # a recursive type: counted as null
                return Size(NULL, (path or "(payload)",))
            self.stack.append(name)
            try:
                return self.size(resolve(node, self.defs), path)
            finally:
                self.stack.pop()
        inner, nullable = non_null(node)
        if nullable:
            return _max(self.size(inner, path), Size(NULL))
        return self.value(node, path)

    def value(self, node: Mapping[str, Any], path: str) -> Size:
        if "const" in node:
            return Size(len(json.dumps(node["const"], ensure_ascii=False)))
        if isinstance(node.get("enum"), list) and node["enum"]:
            return Size(max(len(json.dumps(v, ensure_ascii=False)) for v in node["enum"]))
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list) and node[key]:
                return _max(*(self.size(v, path) for v in node[key]))
        kind = node.get("type")
        if kind == "object" or "properties" in node:
            return self.object(node, path)
        if kind == "array":
            return self.array(node, path)
        if kind == "string":
            return self.string(node, path)
        if kind == "integer":
            if "minimum" in node and "maximum" in node:
                return Size(max(_digits(node["minimum"]), _digits(node["maximum"])))
            return Size(INTEGER)
        if kind == "number":
            return Size(NUMBER)
        if kind == "boolean":
            return Size(BOOLEAN)
        if kind == "null":
            return Size(NULL)
        return Size(UNBOUNDED_STRING + 2, (path or "(payload)",))  # any JSON value

    def string(self, node: Mapping[str, Any], path: str) -> Size:
        if isinstance(node.get("maxLength"), int):
            return Size(node["maxLength"] + 2)
        known = STRING_FORMATS.get(str(node.get("format")))
        if known is not None:
            return Size(known)
        return Size(UNBOUNDED_STRING + 2, (path or "(payload)",))

    def array(self, node: Mapping[str, Any], path: str) -> Size:
        prefix = node.get("prefixItems")
        if isinstance(prefix, list) and prefix and node.get("maxItems") == len(prefix):
            items = [self.size(item, f"{path}[{i}]") for i, item in enumerate(prefix)]
            return _join(*items, extra=2 + len(items) - 1)
        item = self.size(node.get("items", {}), f"{path}[]")
        count = node.get("maxItems")
        if not isinstance(count, int):
            count = UNBOUNDED_ITEMS
            item = Size(item.bytes, (f"{path}[]", *item.unbounded))
        if count == 0:
            return Size(2, item.unbounded)
        return Size(2 + count * item.bytes + count - 1, item.unbounded)

    def object(self, node: Mapping[str, Any], path: str) -> Size:
        properties = node.get("properties")
        parts: list[Size] = []
        extra = 2
        if isinstance(properties, Mapping):
            for key, prop in properties.items():
                parts.append(self.size(prop, f"{path}.{key}" if path else key))
                extra += len(json.dumps(key, ensure_ascii=False)) + 1
        values = node.get("additionalProperties")
        if isinstance(values, Mapping):
            where = f"{path}{{}}" if path else "{}"
            value = self.size(values, where)
            count = node.get("maxProperties")
            entries = count if isinstance(count, int) else UNBOUNDED_ITEMS
            entry = Size(value.bytes + UNBOUNDED_STRING + 3, (where, *value.unbounded))
            parts.extend([entry] * entries)
        extra += max(len(parts) - 1, 0)
        return _join(*parts, extra=extra)


def _max(*sizes: Size) -> Size:
    largest = max(sizes, key=lambda size: size.bytes)
    unbounded = tuple(dict.fromkeys(path for size in sizes for path in size.unbounded))
    return Size(largest.bytes, unbounded)


def estimate(schema: Mapping[str, Any], defs: Mapping[str, Any] | None = None) -> Size:
    """The estimated size of a payload described by ``schema`` (see the module docstring).

    ``defs`` resolves ``#/$defs/...`` references; by default the schema's own ``$defs``.
    """
    found = schema.get("$defs") if defs is None else defs
    return _Estimator(found if isinstance(found, Mapping) else {}).size(schema, "")
