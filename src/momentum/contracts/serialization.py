"""JSON payload codec per message class: what goes into (and comes out of) a Kafka record value.

Messages are frozen dataclasses or frozen pydantic models, possibly nested, with fields of the
usual value types. Each class gets a codec built once from pydantic's core schema and cached
per ``(class, casing)``: property names are rewritten to the casing, then compiled into a
``pydantic_core.SchemaSerializer`` (writing) and ``SchemaValidator`` (reading).

Wire decisions (what .NET Momentum's System.Text.Json writes and reads):

- Property names: ``camel`` (default, ``tenantId``), ``snake`` (the Python name as is) or
  ``pascal`` (``TenantId``). A field with an explicit pydantic alias keeps it. Reading is
  case-insensitive: ``tenantId``, ``tenant_id``, ``TenantId`` and ``TENANTID`` all fill
  ``tenant_id`` (keys compare lower-cased with ``_`` removed). Unknown properties are ignored.
- ``Decimal``: a JSON number written in plain notation with every digit kept
  (``Decimal("12.50")`` -> ``12.50``), read back exactly; a JSON string is accepted too.
  NaN and infinities have no JSON form and are refused when encoding.
- ``datetime``: RFC 3339 with offset (``2024-05-01T12:00:00Z``, ``...+02:00``). Encoding a naive
  datetime is refused (say which zone: ``datetime.now(UTC)``); reading a value without offset
  gives a UTC datetime, never a naive one. ``date`` is ``YYYY-MM-DD``.
- Enums by value; UUIDs in canonical lower-case form (read in any case); ``bytes`` as standard
  base64 (URL-safe base64 is accepted too); tuples, lists and sets as arrays.

Every failure is typed: :class:`MessageEncodeError` when writing, :class:`InvalidJsonError`
(``invalid-json``) and :class:`SchemaMismatchError` (``schema-mismatch``) when reading, with a
message naming the class and the field. Reading costs a bounded time whatever the input
(:mod:`momentum.contracts.json_parsing`: number length and exponent, nesting depth).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal, cast, get_args

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import (
    PydanticSerializationError,
    SchemaSerializer,
    SchemaValidator,
    ValidationError,
)
from pydantic_core import core_schema as cs

from momentum.contracts.errors import (
    InvalidJsonError,
    MessageEncodeError,
    SchemaMismatchError,
)
from momentum.contracts.json_parsing import parse_bounded_json

Casing = Literal["camel", "snake", "pascal"]
"""How property names are written: ``tenantId``, ``tenant_id`` or ``TenantId``."""

CASINGS: Final[tuple[Casing, ...]] = get_args(Casing)
DEFAULT_CASING: Final[Casing] = "camel"

_Mode = Literal["serialize", "fast", "tolerant", "doc"]

# A Decimal is first written as a JSON string carrying this per-process random marker, which
# is then stripped with its quotes: pydantic_core cannot emit a raw number from Python code.
_DECIMAL_MARK: Final = f"mmdec{secrets.token_hex(8)}:"
_DECIMAL_STRING: Final = re.compile(b'"' + _DECIMAL_MARK.encode() + b'([^"]*)"')
_HOOK_ERROR: Final = f"{MessageEncodeError.__name__}: "
_OWNER: Final = "\x00"  # marks a class name on the rewriter's path
_SKIP_KEYS: Final = frozenset({"metadata", "cls", "function", "ref", "cls_repr"})
DECIMAL_MARKER: Final = "momentum_decimal"
"""Key set in the ``metadata`` of the number schema standing for a ``Decimal`` (doc mode)."""


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# --- casing ------------------------------------------------------------------------------------


def cased(name: str, casing: Casing) -> str:
    """A Python field name as written on the wire: ``tenant_id`` -> ``tenantId`` (camel)."""
    if casing == "snake":
        return name
    words = [w for w in name.split("_") if w]
    if not words:
        return name
    pascal = "".join(w[:1].upper() + w[1:] for w in words)
    if casing == "pascal":
        return pascal
    first = words[0]
    return first[:1].lower() + first[1:] + pascal[len(first) :]


def normalized_key(name: str) -> str:
    """How property names compare when reading: lower-case, ``_`` removed."""
    return name.replace("_", "").lower()


# --- value hooks ---------------------------------------------------------------------------------


def _decimal_writer(where: str) -> Callable[[Decimal], str]:
    def write(value: Decimal) -> str:
        if not value.is_finite():
            raise MessageEncodeError(
                f"field {where!r}: Decimal {value} has no JSON form (NaN and infinities are "
                "not allowed)"
            )
        return _DECIMAL_MARK + format(value, "f")

    return write


def _aware_datetime_check(where: str) -> Callable[[datetime], datetime]:
    def check(value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise MessageEncodeError(
                f"field {where!r}: naive datetime {value.isoformat()} has no offset; use an "
                "aware datetime such as datetime.now(UTC)"
            )
        return value

    return check


def _utc_if_naive(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _bytes_to_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _bytes_from_base64(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


def _key_normalizer(mapping: Mapping[str, str]) -> Callable[[Any], Any]:
    """A before-validator renaming the keys of a dict to the field they name, any casing."""

    def normalize(value: Any) -> Any:
        if type(value) is not dict:
            return value
        renamed: dict[Any, Any] = {}
        for key, item in value.items():
            target = mapping.get(normalized_key(key)) if isinstance(key, str) else None
            renamed[key if target is None else target] = item
        return renamed

    return normalize


# --- core schema rewriting ---------------------------------------------------------------------


def _alias_choices(existing: Any, name: str) -> list[list[str | int]]:
    """Validation alias paths: the explicit alias (if any), then every casing of ``name``."""
    paths: list[list[str | int]] = []
    if isinstance(existing, str):
        paths.append([existing])
    elif isinstance(existing, list) and existing:
        if all(isinstance(p, list) for p in existing):
            paths.extend(existing)
        else:
            paths.append(existing)
    for casing in CASINGS:
        choice: list[str | int] = [cased(name, casing)]
        if choice not in paths:
            paths.append(choice)
    return paths


class _Rewriter:
    """Rewrites a core schema for one purpose (see ``_Mode``) and one casing."""

    def __init__(self, mode: _Mode, casing: Casing) -> None:
        self.mode = mode
        self.casing = casing
        self.has_decimal = False
        self.path: list[str] = []

    def walk(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        kind = node.get("type")
        if kind == "dataclass-field":
            return self.named(node["name"], node, container=False)
        owner = node.get("cls") if kind in ("dataclass", "model") else None
        if isinstance(owner, type):
            self.path.append(_OWNER + owner.__qualname__)
            try:
                return self.walk_node(kind, node)
            finally:
                self.path.pop()
        return self.walk_node(kind, node)

    def walk_node(self, kind: Any, node: dict[str, Any]) -> Any:
        new: dict[str, Any] = {}
        for key, value in node.items():
            if key in _SKIP_KEYS:
                new[key] = value
            elif key == "fields" and isinstance(value, dict):
                new[key] = {n: self.named(n, f, container=True) for n, f in value.items()}
            else:
                new[key] = self.walk(value)
        if kind == "dataclass-args":
            new["fields"] = [self.field(f, f["name"]) for f in new["fields"]]
        elif kind in ("model-fields", "typed-dict"):
            new["fields"] = {n: self.field(f, n) for n, f in new["fields"].items()}
        if kind in ("dataclass-args", "model-fields") and new.get("computed_fields"):
            new["computed_fields"] = [self.computed(c) for c in new["computed_fields"]]
        return self.value_hooks(kind, new)

    def named(self, name: str, node: Any, *, container: bool) -> Any:
        """Walk a field's schema with its name on the path (for error messages)."""
        self.path.append(name)
        try:
            if container:
                return self.walk(node)
            return {k: (v if k in _SKIP_KEYS else self.walk(v)) for k, v in node.items()}
        finally:
            self.path.pop()

    def field(self, field: dict[str, Any], name: str) -> dict[str, Any]:
        field = dict(field)
        if self.mode in ("serialize", "doc"):
            field.setdefault("serialization_alias", cased(name, self.casing))
        if self.mode in ("fast", "tolerant", "doc"):
            field["validation_alias"] = _alias_choices(field.get("validation_alias"), name)
        return field

    @property
    def where(self) -> str:
        """The field being walked, after the class declaring it: ``Line.unit_price``."""
        names: list[str] = []
        for part in reversed(self.path):
            if part.startswith(_OWNER):
                names.append(part.removeprefix(_OWNER))
                break
            names.append(part)
        return ".".join(reversed(names)) or "(message)"

    def computed(self, computed: dict[str, Any]) -> dict[str, Any]:
        computed = dict(computed)
        computed.setdefault("alias", cased(computed["property_name"], self.casing))
        return computed

    def value_hooks(self, kind: Any, node: dict[str, Any]) -> dict[str, Any]:
        serializing = self.mode == "serialize"
        if serializing and "serialization" in node:
            return node  # the class's own serializer (PlainSerializer...) wins
        if kind == "decimal":
            self.has_decimal = True
            if serializing:
                node["serialization"] = cs.plain_serializer_function_ser_schema(
                    _decimal_writer(self.where), when_used="json"
                )
            elif self.mode == "doc":
                doc: dict[str, Any] = {"type": "float", "metadata": {DECIMAL_MARKER: True}}
                for bound in ("le", "ge", "lt", "gt", "multiple_of"):
                    if bound in node:
                        doc[bound] = node[bound]
                return doc
        elif kind == "datetime":
            if serializing:
                node["serialization"] = cs.plain_serializer_function_ser_schema(
                    _aware_datetime_check(self.where),
                    return_schema=cs.datetime_schema(),
                    when_used="json",
                )
            elif self.mode != "doc":
                ref = node.pop("ref", None)
                wrapped = dict(cs.no_info_after_validator_function(_utc_if_naive, cast(Any, node)))
                if ref is not None:
                    wrapped["ref"] = ref
                return wrapped
        elif kind == "bytes":
            if serializing:
                node["serialization"] = cs.plain_serializer_function_ser_schema(
                    _bytes_to_base64, when_used="json"
                )
            elif self.mode != "doc":
                return dict(
                    cs.no_info_before_validator_function(_bytes_from_base64, cast(Any, node))
                )
        elif kind in ("model", "dataclass") and self.mode != "doc" and _pydantic_class(node):
            return self.model(node)
        elif kind == "dataclass" and self.mode == "tolerant":
            return self.tolerant_keys(node, node["schema"]["fields"])
        return node

    def model(self, node: dict[str, Any]) -> dict[str, Any]:
        """A pydantic model or pydantic dataclass, as a typed dict of its field values.

        pydantic_core validates and serializes a ``model`` schema of a ``BaseModel`` class (and
        a ``dataclass`` schema of a pydantic dataclass) with the class's own snake_case
        validator and serializer, whatever schema it is given: such fields are therefore
        handled as a typed dict carrying our aliases, built into the class after validation.
        """
        cls = node["cls"]
        inner = node["schema"]
        is_model = node["type"] == "model"
        listed = inner["fields"].items() if is_model else [(f["name"], f) for f in inner["fields"]]
        serializing = self.mode == "serialize"
        fields: dict[str, Any] = {}
        for name, field in listed:
            if not serializing and field.get("init") is False:
                continue
            options = {
                k: field[k]
                for k in ("validation_alias", "serialization_alias", "serialization_exclude")
                if k in field
            }
            required = field["schema"].get("type") != "default"
            fields[name] = cs.typed_dict_field(field["schema"], required=required, **options)
        if serializing:
            computed = tuple(inner.get("computed_fields") or ())
            for field in computed:
                fields[field["property_name"]] = cs.typed_dict_field(
                    field["return_schema"], serialization_alias=field.get("alias")
                )
            as_dict = cs.typed_dict_schema(fields, config=node.get("config"))
            read = _field_values(tuple(fields), from_dict=is_model and not computed)
            ser = cs.plain_serializer_function_ser_schema(read, return_schema=as_dict)
            return _with_ref(cs.any_schema(serialization=ser), node)
        as_dict = cs.typed_dict_schema(fields, config=node.get("config"))
        build = _model_builder(cls) if is_model else _dataclass_builder(cls)
        built = _with_ref(cs.no_info_after_validator_function(build, as_dict), node)
        if self.mode == "tolerant":
            return self.tolerant_keys(built, fields)
        return built

    def tolerant_keys(self, node: dict[str, Any], fields: Any) -> dict[str, Any]:
        """Wrap a dataclass/model so that keys in any casing reach their field."""
        items = fields.items() if isinstance(fields, dict) else ((f["name"], f) for f in fields)
        mapping: dict[str, str] = {}
        ambiguous: set[str] = set()
        for _name, field in items:
            paths = field.get("validation_alias") or []
            names = [p[0] for p in paths if len(p) == 1 and isinstance(p[0], str)]
            if not names:
                continue
            for candidate in names:
                key = normalized_key(candidate)
                if mapping.get(key, names[0]) != names[0]:
                    ambiguous.add(key)
                mapping[key] = names[0]
        for key in ambiguous:
            mapping.pop(key, None)
        node = dict(node)
        ref = node.pop("ref", None)
        wrapped: dict[str, Any] = dict(
            cs.no_info_before_validator_function(_key_normalizer(mapping), cast(Any, node))
        )
        if ref is not None:
            wrapped["ref"] = ref
        return wrapped


def _pydantic_class(node: Mapping[str, Any]) -> bool:
    """A model (not a root model) or pydantic dataclass without a class-level serializer."""
    if node.get("root_model") or "serialization" in node:
        return False
    if node["type"] == "model":
        return bool(node.get("schema", {}).get("type") == "model-fields")
    inner = node.get("schema", {})
    return "__pydantic_validator__" in vars(node["cls"]) and inner.get("type") == "dataclass-args"


def _with_ref(schema: Any, original: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    if "ref" in original:
        out["ref"] = original["ref"]
    return out


def _model_builder(cls: Any) -> Callable[[dict[str, Any]], Any]:
    construct = cls.model_construct

    def build(values: dict[str, Any]) -> Any:
        return construct(**values)

    return build


def _dataclass_builder(cls: Any) -> Callable[[dict[str, Any]], Any]:
    def build(values: dict[str, Any]) -> Any:
        return cls(**values)  # validated values: the class's own validation accepts them

    return build


def _field_values(names: tuple[str, ...], *, from_dict: bool) -> Callable[[Any], Any]:
    def values_of(instance: Any) -> Any:
        if from_dict:
            return instance.__dict__
        return {name: getattr(instance, name) for name in names}

    return values_of


def _core_schema(cls: type) -> dict[str, Any]:
    try:
        return cast(dict[str, Any], TypeAdapter(cls).core_schema)
    except Exception as exc:  # pydantic raises several types for unsupported classes
        raise MessageEncodeError(
            f"{_qualname(cls)} cannot be serialized: {exc}", message_type=cls
        ) from exc


def _rewrite(cls: type, mode: _Mode, casing: Casing = DEFAULT_CASING) -> tuple[Any, bool]:
    rewriter = _Rewriter(mode, casing)
    schema = _core_schema(cls)
    ref = schema.get("ref")
    rewritten = rewriter.walk(schema)
    if ref is not None and "ref" not in rewritten:  # a wrapper took over the ref: keep it
        rewritten["ref"] = ref
    return rewritten, rewriter.has_decimal


# --- errors ------------------------------------------------------------------------------------


def _location(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not part.startswith("function-") and part not in ("dataclass-args", "model-fields"):
            text += f".{part}" if text else part
    return text or "(message)"


def _mismatch(cls: type, error: ValidationError) -> SchemaMismatchError:
    problems = [(_location(e["loc"]), e["msg"]) for e in error.errors(include_url=False)]
    summary = "; ".join(f"{where}: {msg}" for where, msg in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return SchemaMismatchError(
        f"{_qualname(cls)}: payload does not match the class: {summary}{more}",
        message_type=cls,
        problems=problems,
    )


def parse_json(data: bytes | bytearray | memoryview | str, cls: type | None = None) -> Any:
    """Parse JSON text keeping every digit of fractional numbers (they come back as Decimal).

    The cost is bounded (:func:`~momentum.contracts.json_parsing.parse_bounded_json`).
    Raises :class:`InvalidJsonError` (naming ``cls`` when given) on malformed or
    out-of-bounds input.
    """
    return parse_bounded_json(data, cls, _qualname(cls) if cls is not None else None)


# --- the codec ---------------------------------------------------------------------------------


class _Decoder:
    """Reads one class from JSON, in any property casing (casing-independent, cached per class)."""

    __slots__ = ("_fast", "_tolerant", "cls", "exact_decimals")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        fast_schema, has_decimal = _rewrite(cls, "fast")
        # Decimal from a JSON number goes through float in pydantic_core: such classes are
        # parsed by the stdlib (parse_float=Decimal) and validated from Python objects.
        self.exact_decimals = has_decimal
        self._fast = None if has_decimal else SchemaValidator(fast_schema)
        self._tolerant: SchemaValidator | None = None

    def decode(self, data: bytes | bytearray | memoryview | str) -> Any:
        if isinstance(data, memoryview):
            data = bytes(data)
        if self._fast is not None:
            try:
                return self._fast.validate_json(data)
            except ValidationError:
                pass  # a casing the aliases do not cover, or bad input: the tolerant path says
        return self.decode_value(parse_json(data, self.cls))

    def decode_value(self, value: Any) -> Any:
        tolerant = self._tolerant
        if tolerant is None:
            tolerant = self._tolerant = SchemaValidator(_rewrite(self.cls, "tolerant")[0])
        try:
            return tolerant.validate_python(value)
        except ValidationError as exc:
            raise _mismatch(self.cls, exc) from None
        except RecursionError:
            raise InvalidJsonError(
                f"{_qualname(self.cls)}: payload nests deeper than the recursion limit",
                message_type=self.cls,
            ) from None
        except ArithmeticError as exc:  # decimal.InvalidOperation from a value's conversion
            raise SchemaMismatchError(
                f"{_qualname(self.cls)}: payload does not match the class: {exc!r}",
                message_type=self.cls,
            ) from None


class MessageCodec:
    """Encodes and decodes one message class in one casing. Get it from :func:`codec`.

    Attributes:
        message_type: The class.
        casing: Property casing used when writing (reading accepts any casing).
    """

    __slots__ = ("_decimals", "_decoder", "_to_json", "casing", "message_type")

    def __init__(self, message_type: type, casing: Casing, decoder: _Decoder) -> None:
        self.message_type = message_type
        self.casing = casing
        schema, self._decimals = _rewrite(message_type, "serialize", casing)
        self._to_json = SchemaSerializer(schema).to_json
        self._decoder = decoder

    def encode(self, message: Any) -> bytes:
        """The message as UTF-8 JSON; :class:`MessageEncodeError` if it cannot be written."""
        if type(message) is not self.message_type:
            raise MessageEncodeError(
                f"{_qualname(self.message_type)} codec cannot encode a "
                f"{type(message).__qualname__}",
                message_type=self.message_type,
            )
        try:
            data: bytes = self._to_json(message, by_alias=True)
        except (PydanticSerializationError, MessageEncodeError, ValueError, TypeError) as exc:
            text = str(exc)
            text = text.split(_HOOK_ERROR, 1)[1] if _HOOK_ERROR in text else text
            raise MessageEncodeError(
                f"{_qualname(self.message_type)}: {text}", message_type=self.message_type
            ) from exc
        if self._decimals:
            data = _DECIMAL_STRING.sub(rb"\1", data)
        return data

    def serializer(self) -> Callable[..., bytes] | None:
        """The raw ``to_json`` of the compiled serializer, for a caller's fast path.

        ``serializer()(message, by_alias=True)`` is :meth:`encode` for an instance of
        :attr:`message_type`, without its type check; a failure raises pydantic's error,
        which the caller reports by calling :meth:`encode` (the typed error). ``None`` when
        the output needs rewriting (``Decimal`` fields): use :meth:`encode`.
        """
        return None if self._decimals else self._to_json

    def decode(self, data: bytes | bytearray | memoryview | str) -> Any:
        """An instance from JSON text; :class:`InvalidJsonError` or :class:`SchemaMismatchError`."""
        return self._decoder.decode(data)

    def decode_value(self, value: Any) -> Any:
        """An instance from already-parsed JSON (as :func:`parse_json` returns it)."""
        return self._decoder.decode_value(value)

    def __repr__(self) -> str:
        return f"MessageCodec({_qualname(self.message_type)}, casing={self.casing!r})"


_CODECS: dict[tuple[type, str], MessageCodec] = {}
_DECODERS: dict[type, _Decoder] = {}


def _check_casing(casing: Casing) -> Casing:
    if casing not in CASINGS:
        raise ValueError(f"casing must be one of {', '.join(CASINGS)}; got {casing!r}")
    return casing


def codec(cls: type, casing: Casing = DEFAULT_CASING) -> MessageCodec:
    """The cached codec of ``cls`` writing property names in ``casing``.

    Built on first use (a few milliseconds); raises :class:`MessageEncodeError` when pydantic
    cannot handle the class.
    """
    found = _CODECS.get((cls, casing))
    if found is None:
        decoder = _DECODERS.get(cls)
        if decoder is None:
            decoder = _DECODERS[cls] = _Decoder(cls)
        found = _CODECS[(cls, casing)] = MessageCodec(cls, _check_casing(casing), decoder)
    return found


def decoder(cls: type) -> Callable[[bytes | bytearray | memoryview | str], Any]:
    """``codec(cls).decode`` without the per-call lookups (cached per class).

    Reading accepts any casing, so one decoder serves every casing.
    """
    found = _DECODE.get(cls)
    if found is None:
        codec(cls)  # builds (and caches) the class's decoder, or raises
        found = _DECODE[cls] = _DECODERS[cls].decode
    return found


_DECODE: dict[type, Callable[[bytes | bytearray | memoryview | str], Any]] = {}


def encode(message: Any, casing: Casing = DEFAULT_CASING) -> bytes:
    """``message`` as UTF-8 JSON with property names in ``casing``."""
    return codec(type(message), casing).encode(message)


def decode(cls: type, data: bytes | bytearray | memoryview | str) -> Any:
    """An instance of ``cls`` from JSON text written in any property casing."""
    return codec(cls).decode(data)


def doc_core_schema(cls: type, casing: Casing = DEFAULT_CASING) -> Any:
    """The pydantic core schema describing ``cls`` as written on the wire in ``casing``.

    Property names carry their wire aliases and ``Decimal`` fields are JSON numbers (marked
    with :data:`DECIMAL_MARKER` in their ``metadata``): feed it to a
    ``pydantic.json_schema.GenerateJsonSchema`` with ``by_alias=True`` in ``serialization``
    mode, as :func:`json_schema` does.
    """
    return _rewrite(cls, "doc", _check_casing(casing))[0]


def json_schema(cls: type, casing: Casing = DEFAULT_CASING) -> dict[str, Any]:
    """The JSON Schema of ``cls`` as written on the wire in ``casing`` (for docs and AsyncAPI)."""
    generator = GenerateJsonSchema(by_alias=True)
    return generator.generate(doc_core_schema(cls, casing), mode="serialization")
