"""Compare two contract files: which changes break the consumers of an integration event.

Events are matched by wire type name (``ce_type``). For an event that keeps its topic
version, a change is *breaking* when a consumer built on either side can fail on a message
written by the other (the rule of thumb of schema registries' full compatibility), so every
producer and consumer can be deployed in any order:

==========================  ================================================================
``removed-event``           the type is no longer published (safe if it was deprecated)
``changed-topic``           same version, other topic: consumers listen where nothing arrives
``changed-partition-key``   per-entity order breaks while old and new keys coexist
``removed-field``           old consumers require (or read) it
``changed-type``            type, format, nullability or enum values differ
``changed-constraint``      a length, range or pattern differs: one side rejects the other's
``new-required-field``      new consumers fail on records written before it (replays, old
                            producers)
``field-now-required``      the same, for an existing optional field
``field-now-optional``      producers may omit what old consumers require
==========================  ================================================================

Safe changes are reported as information: ``new-optional-field``, ``new-event``,
``new-version`` (the event moved to a new topic version: a new contract, nothing compared),
``deprecated`` (newly marked) and ``removed-event`` of a deprecated event. Descriptions,
titles and defaults are documentation, never compared.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from momentum.docs.schemas import non_null, ref_name, resolve

CONSTRAINTS: Final = (
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
)
"""Schema keywords whose change is ``changed-constraint``."""


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between the old and the new contract of an event.

    Attributes:
        breaking: Whether consumers or producers deployed on either side can fail.
        code: Stable identifier (see the module docstring).
        type_name: Wire type name of the event.
        path: The property concerned in wire names (``cashier.email``, ``lines[].sku``), or
            ``None`` for the event as a whole.
        message: What changed and why it matters.
    """

    breaking: bool
    code: str
    type_name: str
    path: str | None
    message: str

    @property
    def severity(self) -> str:
        """``breaking`` or ``safe``."""
        return "breaking" if self.breaking else "safe"

    def __str__(self) -> str:
        return f"{self.severity} [{self.code}] {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``momentum check --json``)."""
        return {
            "severity": self.severity,
            "code": self.code,
            "type_name": self.type_name,
            "path": self.path,
            "message": self.message,
        }


def _describe(node: Mapping[str, Any]) -> str:
    """A short, comparable description of a value's type: ``string (uuid)``, ``Cashier``."""
    if "const" in node:
        return f"constant {json.dumps(node['const'])}"
    kind = node.get("type")
    text = str(kind) if isinstance(kind, str) else "any"
    if "format" in node:
        text += f" ({node['format']})"
    title = node.get("title")
    if kind == "object" and isinstance(title, str):
        text = title
    return text


def _shape(node: Mapping[str, Any]) -> str:
    if "const" in node or "enum" in node:
        return "value"
    if isinstance(node.get("anyOf"), list) or isinstance(node.get("oneOf"), list):
        return "union"
    kind = node.get("type")
    if kind == "array":
        return "tuple" if isinstance(node.get("prefixItems"), list) else "array"
    if kind == "object" or "properties" in node:
        return "object" if "properties" in node else "map"
    return "value"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _SchemaDiff:
    def __init__(
        self, type_name: str, old_defs: Mapping[str, Any], new_defs: Mapping[str, Any]
    ) -> None:
        self.type_name = type_name
        self.old_defs = old_defs
        self.new_defs = new_defs
        self.changes: list[Change] = []
        self.stack: list[tuple[str | None, str | None]] = []

    def add(self, breaking: bool, code: str, path: str, message: str) -> None:
        self.changes.append(Change(breaking, code, self.type_name, path or None, message))

    def node(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        refs = (ref_name(old), ref_name(new))
        if refs != (None, None):
            if refs in self.stack:  # a recursive type already being compared
                return
            self.stack.append(refs)
            try:
                self.node(resolve(old, self.old_defs), resolve(new, self.new_defs), path)
            finally:
                self.stack.pop()
            return
        old_inner, old_null = non_null(old)
        new_inner, new_null = non_null(new)
        where = f"{path} " if path else "the payload "
        if old_null != new_null:
            if new_null:
                message = f"{where}may now be null: consumers that expect a value fail."
            else:
                message = f"{where}may no longer be null: records with null fail to decode."
            self.add(True, "changed-type", path, message)
        if old_null or new_null:
            self.node(old_inner, new_inner, path)
            return
        self.value(old, new, path)

    def value(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        shape = _shape(old)
        where = path or "the payload"
        if shape != _shape(new):
            self.add(
                True,
                "changed-type",
                path,
                f"{where} changed type from {_describe(old)} to {_describe(new)}.",
            )
            return
        if shape == "object":
            self.object(old, new, path)
        elif shape == "array":
            self.node(old.get("items", {}), new.get("items", {}), f"{path}[]")
        elif shape == "map":
            self.node(
                old.get("additionalProperties") or {},
                new.get("additionalProperties") or {},
                f"{path}{{}}",
            )
        elif shape == "tuple":
            olds, news = old["prefixItems"], new.get("prefixItems") or []
            if len(olds) != len(news):
                self.add(
                    True,
                    "changed-type",
                    path,
                    f"{where} changed from {len(olds)} to {len(news)} items.",
                )
                return
            for index, (a, b) in enumerate(zip(olds, news, strict=True)):
                self.node(a, b, f"{path}[{index}]")
        elif shape == "union":
            self.union(old, new, path)
        else:
            self.leaf(old, new, path)
        if shape != "object":
            self.constraints(old, new, path)

    def union(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        def variants(node: Mapping[str, Any], defs: Mapping[str, Any]) -> set[str]:
            found = node.get("anyOf") or node.get("oneOf") or []
            return {json.dumps(_canonical(v, defs), sort_keys=True) for v in found}

        if variants(old, self.old_defs) != variants(new, self.new_defs):
            self.add(
                True,
                "changed-type",
                path,
                f"{path or 'the payload'} changed the types it may hold.",
            )

    def leaf(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        where = path or "the payload"
        if (old.get("type"), old.get("format"), old.get("const")) != (
            new.get("type"),
            new.get("format"),
            new.get("const"),
        ):
            self.add(
                True,
                "changed-type",
                path,
                f"{where} changed type from {_describe(old)} to {_describe(new)}.",
            )
            return
        old_values, new_values = old.get("enum"), new.get("enum")
        if old_values != new_values and (old_values is not None or new_values is not None):
            before = list(old_values or [])
            after = list(new_values or [])
            added = [v for v in after if v not in before]
            removed = [v for v in before if v not in after]
            details = []
            if added:
                details.append(f"added {', '.join(json.dumps(v) for v in added)}")
            if removed:
                details.append(f"removed {', '.join(json.dumps(v) for v in removed)}")
            if not details:
                return  # the same values in another order
            self.add(
                True,
                "changed-type",
                path,
                f"{where}: enum values {' and '.join(details)}; a consumer that does not know "
                f"a value fails to decode it.",
            )

    def constraints(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        for key in CONSTRAINTS:
            if old.get(key) != new.get(key):
                self.add(
                    True,
                    "changed-constraint",
                    path,
                    f"{path or 'the payload'}: {key} changed from {old.get(key)!r} to "
                    f"{new.get(key)!r}; values valid on one side are rejected on the other.",
                )

    def object(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        old_props = old.get("properties") or {}
        new_props = new.get("properties") or {}
        old_required = set(old.get("required") or ())
        new_required = set(new.get("required") or ())
        for name, schema in old_props.items():
            where = _join(path, name)
            if name not in new_props:
                self.add(
                    True,
                    "removed-field",
                    where,
                    f"{where} was removed: consumers that read it fail or lose data.",
                )
                continue
            self.node(schema, new_props[name], where)
            if name in old_required and name not in new_required:
                self.add(
                    True,
                    "field-now-optional",
                    where,
                    f"{where} is no longer required: producers may omit what consumers require.",
                )
            elif name in new_required and name not in old_required:
                self.add(
                    True,
                    "field-now-required",
                    where,
                    f"{where} is now required: records written without it fail to decode.",
                )
        for name in new_props:
            if name in old_props:
                continue
            where = _join(path, name)
            if name in new_required:
                self.add(
                    True,
                    "new-required-field",
                    where,
                    f"{where} is a new required field: records written before (replays, "
                    f"producers not yet upgraded) fail to decode; give it a default.",
                )
            else:
                self.add(
                    False,
                    "new-optional-field",
                    where,
                    f"{where} is a new optional field.",
                )


_DOCUMENTATION: Final = frozenset({"description", "title", "default", "examples", "deprecated"})


def _canonical(node: Any, defs: Mapping[str, Any], depth: int = 0) -> Any:
    """``node`` with references inlined (to a depth) and documentation keywords dropped."""
    if isinstance(node, list):
        return [_canonical(item, defs, depth) for item in node]
    if not isinstance(node, Mapping):
        return node
    if ref_name(node) is not None:
        if depth > 8:
            return {"$ref": node["$ref"]}
        return _canonical(resolve(node, defs), defs, depth + 1)
    return {
        key: _canonical(value, defs, depth)
        for key, value in node.items()
        if key not in _DOCUMENTATION and not key.startswith("x-")
    }


def _base_topic(event: Mapping[str, Any]) -> str | None:
    topic, version = event.get("topic"), event.get("version")
    if isinstance(topic, str) and version and topic.endswith(f".{version}"):
        return topic[: -len(version) - 1]
    return topic if isinstance(topic, str) else None


def _compare_event(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    type_name = str(new["type_name"])
    changes: list[Change] = []
    if old.get("version") != new.get("version") and _base_topic(old) is not None:
        return [
            Change(
                False,
                "new-version",
                type_name,
                None,
                f"{type_name} moved from topic {old.get('topic')} to {new.get('topic')}: a new "
                f"contract version, its changes are not compared. Consumers of the old topic "
                f"receive nothing more unless the old version stays published.",
            )
        ]
    if old.get("topic") != new.get("topic") and old.get("topic") is not None:
        changes.append(
            Change(
                True,
                "changed-topic",
                type_name,
                None,
                f"{type_name} moved from topic {old.get('topic')} to {new.get('topic')} in the "
                f"same version: its consumers listen where nothing arrives any more. Publish "
                f"it on a new version instead.",
            )
        )
    if old.get("partition_key") != new.get("partition_key"):
        changes.append(
            Change(
                True,
                "changed-partition-key",
                type_name,
                None,
                f"{type_name} changed its partition key from {_key(old)} to {_key(new)}: while "
                f"both are in flight, one entity's events land on different partitions and "
                f"lose their order.",
            )
        )
    diff = _SchemaDiff(
        type_name, old["schema"].get("$defs") or {}, new["schema"].get("$defs") or {}
    )
    diff.node(old["schema"], new["schema"], "")
    changes.extend(diff.changes)
    if new.get("status") == "deprecated" and old.get("status") != "deprecated":
        note = f": {new['deprecation']}" if new.get("deprecation") else "."
        changes.append(
            Change(False, "deprecated", type_name, None, f"{type_name} is deprecated{note}")
        )
    return changes


def _key(event: Mapping[str, Any]) -> str:
    key = event.get("partition_key") or {}
    if key.get("method"):
        return "partition_key()"
    fields = key.get("fields") or []
    return " | ".join(fields) if fields else "the message id"


def compare_contracts(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every change from the ``old`` contract file content to the ``new`` one.

    Breaking changes first (in event order of ``old``), then safe ones. Both must be valid
    contract files (:func:`~momentum.docs.contract_file.validate_contracts`).
    """
    old_events = {str(e["type_name"]): e for e in old["events"]}
    new_events = {str(e["type_name"]): e for e in new["events"]}
    changes: list[Change] = []
    for type_name, before in old_events.items():
        after = new_events.get(type_name)
        if after is None:
            deprecated = before.get("status") == "deprecated"
            if deprecated:
                message = f"{type_name} was removed after its deprecation."
            else:
                message = (
                    f"{type_name} is no longer published (removed or renamed): its consumers "
                    f"receive nothing more. Deprecate it first, or keep publishing it."
                )
            changes.append(Change(not deprecated, "removed-event", type_name, None, message))
            continue
        changes.extend(_compare_event(before, after))
    for type_name, after in new_events.items():
        if type_name not in old_events:
            topic = after.get("topic") or "no topic"
            changes.append(
                Change(False, "new-event", type_name, None, f"{type_name} is new ({topic}).")
            )
    return [c for c in changes if c.breaking] + [c for c in changes if not c.breaking]
