"""The JSON Schema of a message as it goes on the wire, annotated for readers.

Built from the same pydantic core schema as the codec (:mod:`momentum.contracts.serialization`),
so property names are in the wire casing (``tenantId`` in camel case) and values have their
wire types (``Decimal`` is a JSON number, marked ``"format": "decimal"``). On top of pydantic's
output every class schema (the event and each nested dataclass, model and enum) gets:

- ``description``: the docstring's summary and description, without its sections;
- a ``description`` per property, from the docstring's ``Attributes:`` section (or
  ``Field(description=...)``), and no generated ``title`` per property;
- ``deprecated: true`` when the class is deprecated (see :mod:`momentum.docs.docstrings`);
- ``x-python-type``: the class's ``module.qualname``, which links a schema to its page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema as cs

from momentum.contracts.checks import field_description
from momentum.contracts.serialization import DECIMAL_MARKER, Casing, doc_core_schema
from momentum.docs.docstrings import class_doc

X_PYTHON_TYPE: Final = "x-python-type"
"""Schema keyword naming the Python class a schema describes (``module.qualname``)."""

_DEFS_PREFIX: Final = "#/$defs/"


def python_name(cls: type) -> str:
    """``module.qualname`` of a class."""
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True, slots=True)
class WireSchema:
    """The annotated wire schema of one message class.

    Attributes:
        schema: The JSON Schema (draft 2020-12, nested classes under ``$defs``).
        classes: Every class the schema describes, by ``module.qualname``.
        wire_names: Per class (by ``module.qualname``), its Python field names mapped to
            their property names on the wire.
    """

    schema: dict[str, Any]
    classes: dict[str, type]
    wire_names: dict[str, dict[str, str]]

    @property
    def defs(self) -> dict[str, Any]:
        """The ``$defs`` of :attr:`schema` (empty when there are none)."""
        defs = self.schema.get("$defs")
        return defs if isinstance(defs, dict) else {}


def _field_aliases(schema: Mapping[str, Any]) -> dict[str, str]:
    """Python field name -> wire name, from a dataclass or model core schema."""
    node: Any = schema.get("schema")
    while isinstance(node, Mapping) and node.get("type") not in ("dataclass-args", "model-fields"):
        node = node.get("schema")
    if not isinstance(node, Mapping):
        return {}
    fields = node.get("fields")
    items = (
        fields.items() if isinstance(fields, Mapping) else ((f["name"], f) for f in fields or ())
    )
    return {name: str(field.get("serialization_alias") or name) for name, field in items}


class _Generator(GenerateJsonSchema):
    """pydantic's generator, annotating class schemas (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(by_alias=True)
        self.classes: dict[str, type] = {}
        self.wire_names: dict[str, dict[str, str]] = {}

    def dataclass_schema(self, schema: cs.DataclassSchema) -> JsonSchemaValue:
        return self._annotate(schema["cls"], super().dataclass_schema(schema), schema)

    def model_schema(self, schema: cs.ModelSchema) -> JsonSchemaValue:
        return self._annotate(schema["cls"], super().model_schema(schema), schema)

    def enum_schema(self, schema: cs.EnumSchema) -> JsonSchemaValue:
        return self._annotate(schema["cls"], super().enum_schema(schema), None)

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, Decimal) and dft.is_finite():  # a JSON number on the wire
            return int(dft) if dft == dft.to_integral_value() else float(dft)
        return super().encode_default(dft)

    def float_schema(self, schema: cs.FloatSchema) -> JsonSchemaValue:
        result = super().float_schema(schema)
        metadata = schema.get("metadata")
        if isinstance(metadata, Mapping) and metadata.get(DECIMAL_MARKER):
            result["format"] = "decimal"
        return result

    def _annotate(
        self, cls: type, result: JsonSchemaValue, schema: Mapping[str, Any] | None
    ) -> JsonSchemaValue:
        name = python_name(cls)
        aliases = _field_aliases(schema) if schema is not None else {}
        self.classes[name] = cls
        self.wire_names[name] = aliases
        doc = class_doc(cls)
        result.pop("description", None)
        text = "\n\n".join(part for part in (doc.summary, doc.description) if part)
        if text:
            result["description"] = text
        if doc.deprecated:
            result["deprecated"] = True
        properties = result.get("properties")
        if isinstance(properties, dict):
            for prop in properties.values():
                if isinstance(prop, dict):
                    prop.pop("title", None)
            for field, wire in aliases.items():
                prop = properties.get(wire)
                if isinstance(prop, dict) and "description" not in prop:
                    description = field_description(cls, field)
                    if description:
                        prop["description"] = description
        result[X_PYTHON_TYPE] = name
        return result


def wire_schema(cls: type, casing: Casing) -> WireSchema:
    """The annotated JSON Schema of ``cls`` as written on the wire in ``casing``.

    Raises :class:`~momentum.contracts.errors.MessageEncodeError` when pydantic cannot
    describe the class (``momentum check`` reports why, as ``not-json-serializable``).
    """
    generator = _Generator()
    schema = generator.generate(doc_core_schema(cls, casing), mode="serialization")
    return WireSchema(schema, generator.classes, generator.wire_names)


def ref_name(node: Mapping[str, Any]) -> str | None:
    """The ``$defs`` name a ``{"$ref": "#/$defs/Name"}`` node points at, else ``None``."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX):
        return ref.removeprefix(_DEFS_PREFIX)
    return None


def resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    """``node``, or the definition its ``$ref`` points at (followed until it is not a ref)."""
    seen: set[str] = set()
    while (name := ref_name(node)) is not None and name not in seen and name in defs:
        seen.add(name)
        node = defs[name]
    return node


def non_null(node: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """``(schema, nullable)``: ``X | None`` (``anyOf [X, null]``) is ``X``, nullable."""
    variants = node.get("anyOf")
    if isinstance(variants, list):
        others = [v for v in variants if not (isinstance(v, Mapping) and v.get("type") == "null")]
        if len(others) < len(variants):
            if len(others) == 1 and isinstance(others[0], Mapping):
                return others[0], True
            return {**node, "anyOf": others}, True
    return node, False
