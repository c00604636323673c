"""An example payload for a JSON Schema: deterministic, and valid for the schema.

Values come from the schema's own ``examples``, ``const``, first ``enum`` value or
``default`` when it has one; otherwise from its type: a UUID derived from the field's path
(so two ids in one example differ, and stay the same from run to run), fixed dates and times,
``12.5`` for numbers, ``1`` for integers (or the declared minimum), ``true``, ``"string"``
(cut to ``maxLength``, padded to ``minLength``), one item per array and per map. A nullable
field gets a value of its non-null type. A recursive reference ends in ``null`` (in an
empty list when it is the type of a list's items).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from momentum.docs.schemas import non_null, ref_name, resolve

_NAMESPACE: Final = uuid.UUID("6f1c2d44-3b0e-4d7a-9a55-0c8e2f1b7d10")
_FORMATS: Final[dict[str, Any]] = {
    "date-time": "2024-05-01T12:00:00Z",
    "date": "2024-05-01",
    "time": "12:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "duration": "PT1H",
}


class _Examples:
    def __init__(self, defs: Mapping[str, Any]) -> None:
        self.defs = defs
        self.stack: list[str] = []

    def value(self, node: Any, path: str) -> Any:
        if not isinstance(node, Mapping):
            return None
        name = ref_name(node)
        if name is not None:
            if name in self.stack:
                return None
            self.stack.append(name)
            try:
                return self.value(resolve(node, self.defs), path)
            finally:
                self.stack.pop()
        examples = node.get("examples")
        if isinstance(examples, list) and examples:
            return examples[0]
        if "const" in node:
            return node["const"]
        if isinstance(node.get("enum"), list) and node["enum"]:
            return node["enum"][0]
        if node.get("default") is not None:
            return node["default"]
        inner, nullable = non_null(node)
        if nullable:
            return self.value(inner, path)
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list) and node[key]:
                return self.value(node[key][0], path)
        return self.typed(node, path)

    def typed(self, node: Mapping[str, Any], path: str) -> Any:
        kind = node.get("type")
        if kind == "object" or "properties" in node:
            properties = node.get("properties")
            out: dict[str, Any] = {}
            if isinstance(properties, Mapping):
                for key, prop in properties.items():
                    out[key] = self.value(prop, f"{path}.{key}")
            values = node.get("additionalProperties")
            if isinstance(values, Mapping) and not out:
                out["key"] = self.value(values, f"{path}.key")
            return out
        if kind == "array":
            prefix = node.get("prefixItems")
            if isinstance(prefix, list) and prefix:
                return [self.value(item, f"{path}[{i}]") for i, item in enumerate(prefix)]
            items = node.get("items", {})
            if isinstance(items, Mapping) and ref_name(items) in self.stack:
                return []  # a recursive type ends in an empty list
            count = max(int(node.get("minItems", 1)), 1)
            return [self.value(items, f"{path}[{i}]") for i in range(count)]
        if kind == "string":
            return self.string(node, path)
        if kind == "integer":
            return max(int(node.get("minimum", 1)), int(node.get("exclusiveMinimum", 0)) + 1)
        if kind == "number":
            return 12.5
        if kind == "boolean":
            return True
        return None

    def string(self, node: Mapping[str, Any], path: str) -> str:
        fmt = node.get("format")
        if fmt == "uuid":
            return str(uuid.uuid5(_NAMESPACE, path))
        if isinstance(fmt, str) and fmt in _FORMATS:
            return str(_FORMATS[fmt])
        text = "string"
        low = int(node.get("minLength", 0))
        high = node.get("maxLength")
        if len(text) < low:
            text += "x" * (low - len(text))
        if isinstance(high, int):
            text = text[:high]
        return text


def example(schema: Mapping[str, Any], defs: Mapping[str, Any] | None = None) -> Any:
    """An example value for ``schema`` (see the module docstring).

    ``defs`` resolves ``#/$defs/...`` references; by default the schema's own ``$defs``.
    """
    found = schema.get("$defs") if defs is None else defs
    return _Examples(found if isinstance(found, Mapping) else {}).value(schema, "")
