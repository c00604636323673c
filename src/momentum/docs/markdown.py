"""Markdown pages of the event catalog: one per event, one per nested type, and the index.

Pages are named after the class's ``module.qualname`` (``events/app_domain.cashiers.contracts
.integration_events.CashierCreated.md``, ``types/...Cashier.md``), unique and stable, and
link to each other with relative paths, so the folder can be served as is or fed to a static
site generator (see :func:`sidebar` for the navigation).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from momentum.contracts.checks import Problem
from momentum.contracts.discovery import MessageKind
from momentum.docs.model import Catalog, EventDoc, FieldDoc, TypeDoc
from momentum.docs.schemas import X_PYTHON_TYPE, non_null, ref_name, resolve
from momentum.docs.sizes import UNBOUNDED_ITEMS, UNBOUNDED_STRING, Size

INDEX: Final = "index.md"
EVENTS_DIR: Final = "events"
TYPES_DIR: Final = "types"
_DOC_CODES: Final = frozenset({"missing-docstring", "missing-field-description"})
_KINDS: Final = {
    MessageKind.INTEGRATION_EVENT: "integration event",
    MessageKind.DOMAIN_EVENT: "domain event",
}


def event_path(doc: EventDoc) -> str:
    """Path of an event's page, relative to the catalog folder."""
    return f"{EVENTS_DIR}/{doc.python_name}.md"


def type_path(python_name: str) -> str:
    """Path of a nested type's page, relative to the catalog folder."""
    return f"{TYPES_DIR}/{python_name}.md"


def _cell(text: str) -> str:
    """Text fit for a table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class _Renderer:
    """Renders types and tables with links valid from a page one folder below the root."""

    def __init__(self, catalog: Catalog, prefix: str = "../") -> None:
        self.catalog = catalog
        self.prefix = prefix

    def link_type(self, python_name: str, title: str | None = None) -> str:
        found = self.catalog.type_of(python_name)
        label = title or (found.title if found else python_name.rsplit(".", 1)[-1])
        if found is None:
            return _code(label)
        return f"[{label}]({self.prefix}{type_path(python_name)})"

    def type_of(self, node: Any, defs: Mapping[str, Any]) -> str:
        if not isinstance(node, Mapping):
            return "any"
        name = ref_name(node)
        if name is not None:
            body = resolve(node, defs)
            if X_PYTHON_TYPE in body:
                return self.link_type(str(body[X_PYTHON_TYPE]))
            return self.type_of(body, defs) if body is not node else _code(name)
        inner, nullable = non_null(node)
        if nullable:
            return f"{self.type_of(inner, defs)} or null"
        if "const" in node:
            return _code(_json(node["const"]))
        if isinstance(node.get("enum"), list):
            return "one of " + ", ".join(_code(_json(v)) for v in node["enum"])
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list):
                return " or ".join(self.type_of(v, defs) for v in node[key])
        kind = node.get("type")
        if kind == "array":
            prefix = node.get("prefixItems")
            if isinstance(prefix, list) and prefix:
                return "array [" + ", ".join(self.type_of(v, defs) for v in prefix) + "]"
            text = f"array of {self.type_of(node.get('items', {}), defs)}"
            bounds = _bounds(node, "minItems", "maxItems", "items")
            return f"{text} ({bounds})" if bounds else text
        if kind == "object" or "properties" in node:
            values = node.get("additionalProperties")
            if isinstance(values, Mapping):
                return f"map of string to {self.type_of(values, defs)}"
            return "object"
        if isinstance(kind, str):
            details = [str(node["format"])] if "format" in node else []
            bounds = _bounds(node, "minLength", "maxLength", "characters")
            if bounds:
                details.append(bounds)
            if "pattern" in node:
                details.append(f"pattern {_code(str(node['pattern']))}")
            numeric = _range(node)
            if numeric:
                details.append(numeric)
            return f"{kind} ({', '.join(details)})" if details else kind
        return "any"

    def fields_table(self, fields: Iterable[FieldDoc], defs: Mapping[str, Any]) -> list[str]:
        lines = [
            "| Field | Type | Required | Description | Size (bytes) |",
            "|---|---|---|---|--:|",
        ]
        for item in fields:
            required = "yes" if item.required else "no"
            if "default" in item.schema:
                required += f" (default {_code(_json(item.schema['default']))})"
            description = _cell(item.description) if item.description else "**(missing)**"
            name = _code(item.name)
            if item.python_name and item.python_name != item.name:
                name += f" ({_code(item.python_name)})"
            lines.append(
                f"| {name} | {_cell(self.type_of(item.schema, defs))} | {required} | "
                f"{description} | {item.size.short()} |"
            )
        return lines


def _bounds(node: Mapping[str, Any], low: str, high: str, unit: str) -> str:
    lo, hi = node.get(low), node.get(high)
    if lo is not None and hi is not None:
        return f"{lo}..{hi} {unit}" if lo != hi else f"exactly {lo} {unit}"
    if hi is not None:
        return f"at most {hi} {unit}"
    if lo:
        return f"at least {lo} {unit}"
    return ""


def _range(node: Mapping[str, Any]) -> str:
    parts = []
    for key, sign in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    ):
        if key in node:
            parts.append(f"{sign} {node[key]}")
    return " and ".join(parts)


def _size_note(size: Size) -> str:
    if size.bounded:
        return f"Payload size: at most {size.bytes} bytes of compact JSON."
    fields = ", ".join(_code(path) for path in size.unbounded)
    return (
        f"Payload size: about {size.bytes} bytes of compact JSON, an estimate: no maximum "
        f"is declared for {fields} (such strings count as {UNBOUNDED_STRING} characters, "
        f"lists and maps as {UNBOUNDED_ITEMS} items)."
    )


def _problems(problems: Iterable[Problem]) -> list[str]:
    lines = ["## Problems", ""]
    for problem in problems:
        lines.append(f"- **{problem.severity.value}** {_code(problem.code)}: {problem.message}")
    return lines


def _deprecation(deprecation: str | None) -> list[str]:
    if deprecation is None:
        return []
    return [f"> **Deprecated.** {deprecation}".rstrip(), ""]


def _incomplete(problems: Iterable[Problem]) -> list[str]:
    gaps = [p for p in problems if p.code in _DOC_CODES]
    if not gaps:
        return []
    return [
        f"> **Documentation incomplete:** {len(gaps)} gap(s), listed under [Problems](#problems).",
        "",
    ]


def _json_block(value: Any) -> list[str]:
    return ["```json", json.dumps(value, indent=2, ensure_ascii=False), "```"]


def event_page(doc: EventDoc, catalog: Catalog) -> str:
    """The Markdown page of one event."""
    r = _Renderer(catalog)
    lines = [f"# {doc.title}", ""]
    lines += _deprecation(doc.doc.deprecation)
    lines += _incomplete(doc.problems)
    lines += [doc.doc.summary or "**(missing docstring)**", ""]
    if doc.doc.description:
        lines += [doc.doc.description, ""]
    rows: list[tuple[str, str]] = [
        ("Status", doc.status),
        ("Kind", _KINDS.get(doc.info.kind, doc.info.kind.value)),
        ("Type name (`ce_type`)", _code(doc.info.type_name)),
        ("Python class", _code(doc.python_name)),
        ("Domain", _code(doc.domain)),
        ("Subdomain", _code(doc.subdomain) if doc.subdomain else "-"),
    ]
    if doc.entity is not None:
        entity = doc.entity
        rows.append(("Entity", r.link_type(f"{entity.__module__}.{entity.__qualname__}")))
    if doc.info.topic is not None:
        rows += [
            ("Scope", doc.scope or "-"),
            ("Version", doc.version or "(none)"),
            ("Topic", _code(doc.topic) if doc.topic else "(invalid: see Problems)"),
        ]
    elif doc.is_integration:
        rows.append(("Topic", "(no `@event_topic`: see Problems)"))
    else:
        rows.append(("Topic", "none: handled in-process, never on Kafka"))
    if doc.info.partition_key_method:
        key = "computed by `partition_key()`"
    elif doc.partition_key:
        key = ", ".join(_code(name) for name in doc.partition_key)
        if len(doc.partition_key) > 1:
            key += " (in this order, joined with `|`)"
    else:
        key = "none (the message id)"
    rows.append(("Partition key", key))
    if doc.size is not None:
        rows.append(("Payload size", str(doc.size)))
    lines += ["| | |", "|---|---|"]
    lines += [f"| {name} | {value.replace('|', chr(92) + '|')} |" for name, value in rows]
    lines.append("")
    if doc.topics:
        lines += ["Topic per environment:", "", "| Environment | Topic |", "|---|---|"]
        lines += [f"| {env} | {_code(name)} |" for env, name in doc.topics]
        lines.append("")
    if doc.wire is not None:
        lines += ["## Payload", ""]
        if doc.fields:
            lines += r.fields_table(doc.fields, doc.wire.defs)
        else:
            lines.append("No fields.")
        lines.append("")
        if doc.size is not None:
            lines += [_size_note(doc.size), ""]
        lines += ["## Example", "", *_json_block(doc.example), ""]
    if doc.nested:
        lines += ["## Nested types", ""]
        for name in doc.nested:
            found = catalog.type_of(name)
            summary = f": {found.doc.summary}" if found and found.doc.summary else ""
            lines.append(f"- {r.link_type(name)}{summary}")
        lines.append("")
    if doc.problems:
        lines += [*_problems(doc.problems), ""]
    return "\n".join(lines).rstrip() + "\n"


def type_page(found: TypeDoc, catalog: Catalog) -> str:
    """The Markdown page of one nested type."""
    r = _Renderer(catalog)
    lines = [f"# {found.title}", ""]
    lines += _deprecation(found.doc.deprecation)
    lines += _incomplete(found.problems)
    lines += [found.doc.summary or "**(missing docstring)**", ""]
    if found.doc.description:
        lines += [found.doc.description, ""]
    kind = "enum" if found.enum_values else "object"
    lines += [
        "| | |",
        "|---|---|",
        f"| Python class | {_code(found.python_name)} |",
        f"| Kind | {kind} |",
        f"| Size | {found.size} |",
        "",
    ]
    if found.enum_values:
        lines += ["## Values", ""]
        lines += [f"- {_code(_json(value))}" for value in found.enum_values]
        lines.append("")
    else:
        lines += ["## Fields", ""]
        lines += r.fields_table(found.fields, found.defs) if found.fields else ["No fields."]
        lines += ["", "## Example", "", *_json_block(found.example), ""]
    lines += ["## Used by", ""]
    for name in found.used_by:
        doc = next((e for e in catalog.events if e.python_name == name), None)
        title = doc.title if doc else name
        target = event_path(doc) if doc else None
        lines.append(f"- [{title}](../{target})" if target else f"- {_code(title)}")
    lines.append("")
    if found.problems:
        lines += [*_problems(found.problems), ""]
    return "\n".join(lines).rstrip() + "\n"


def groups(catalog: Catalog) -> list[tuple[str, list[tuple[str | None, list[EventDoc]]]]]:
    """Events grouped by domain, then subdomain, both sorted (events in catalog order)."""
    by_domain: dict[str, dict[str | None, list[EventDoc]]] = {}
    names: dict[str, str] = {}
    for doc in catalog.events:
        key = doc.domain.lower()
        names.setdefault(key, doc.domain)
        by_domain.setdefault(key, {}).setdefault(doc.subdomain, []).append(doc)
    return [
        (
            names[key],
            sorted(by_domain[key].items(), key=lambda item: (item[0] is not None, item[0] or "")),
        )
        for key in sorted(by_domain)
    ]


def index_page(catalog: Catalog, asyncapi: str | None = None) -> str:
    """The catalog's index: events grouped by domain and subdomain, then nested types."""
    r = _Renderer(catalog, prefix="")
    integration = sum(1 for doc in catalog.events if doc.is_integration)
    domain = len(catalog.events) - integration
    packages = ", ".join(_code(p) for p in catalog.packages)
    lines = [
        "# Event catalog",
        "",
        f"Events defined in {packages}: {integration} integration event(s), {domain} domain "
        f"event(s), {len(catalog.types)} nested type(s). Payload properties are in "
        f"{catalog.casing} case, as on the wire.",
        "",
    ]
    if asyncapi:
        lines += [f"AsyncAPI 3.0 document: [{asyncapi}]({asyncapi}).", ""]
    for domain_name, subgroups in groups(catalog):
        lines += [f"## {domain_name}", ""]
        for subdomain, docs in subgroups:
            if subdomain is not None:
                lines += [f"### {subdomain}", ""]
            lines += [
                "| Event | Kind | Status | Topic | Summary |",
                "|---|---|---|---|---|",
            ]
            for doc in docs:
                topic = _code(doc.topic) if doc.topic else "-"
                summary = _cell(doc.doc.summary) if doc.doc.summary else "**(missing)**"
                flag = " ⚠" if doc.problems else ""
                lines.append(
                    f"| [{doc.title}]({event_path(doc)}){flag} | "
                    f"{_KINDS.get(doc.info.kind, doc.info.kind.value)} | {doc.status} | "
                    f"{topic} | {summary} |"
                )
            lines.append("")
    if catalog.types:
        lines += ["## Nested types", "", "| Type | Summary | Used by |", "|---|---|---|"]
        for found in catalog.types.values():
            summary = _cell(found.doc.summary) if found.doc.summary else "**(missing)**"
            users = ", ".join(name.rsplit(".", 1)[-1] for name in found.used_by)
            flag = " ⚠" if found.problems else ""
            lines.append(f"| {r.link_type(found.python_name)}{flag} | {summary} | {users} |")
        lines.append("")
    flagged = sum(1 for d in catalog.events if d.problems) + sum(
        1 for t in catalog.types.values() if t.problems
    )
    lines += [
        "## About this catalog",
        "",
        "Sizes count compact JSON as the codec writes it; `≤` marks a maximum, `~` an estimate "
        f"(a string without maximum length counts as {UNBOUNDED_STRING} characters, a list "
        f"without maximum as {UNBOUNDED_ITEMS} items).",
    ]
    if flagged:
        lines += ["", f"⚠ {flagged} page(s) list problems: run `momentum check` for details."]
    return "\n".join(lines).rstrip() + "\n"


def sidebar(catalog: Catalog, asyncapi: str | None = None) -> dict[str, Any]:
    """Navigation tree of the catalog (``sidebar.json``): domains, subdomains, pages."""
    items: list[dict[str, Any]] = [{"title": "Overview", "path": INDEX}]
    for domain_name, subgroups in groups(catalog):
        children: list[dict[str, Any]] = []
        for subdomain, docs in subgroups:
            pages = [
                {
                    "title": doc.title,
                    "path": event_path(doc),
                    "kind": doc.info.kind.value,
                    "status": doc.status,
                }
                for doc in docs
            ]
            if subdomain is None:
                children.extend(pages)
            else:
                children.append({"title": subdomain, "items": pages})
        items.append({"title": domain_name, "items": children})
    if catalog.types:
        items.append(
            {
                "title": "Nested types",
                "items": [
                    {"title": t.title, "path": type_path(t.python_name)}
                    for t in catalog.types.values()
                ],
            }
        )
    if asyncapi:
        items.append({"title": "AsyncAPI", "path": asyncapi})
    return {"generator": "momentum", "title": "Event catalog", "items": items}
