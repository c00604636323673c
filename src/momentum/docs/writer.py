"""Write the catalog folder: Markdown pages, navigation, AsyncAPI document, contract file.

Layout of the folder ``momentum docs PACKAGE... -o DIR`` writes::

    DIR/index.md          events grouped by domain and subdomain, nested types
    DIR/sidebar.json      navigation tree (domains, subdomains, pages)
    DIR/events/*.md       one page per integration and domain event
    DIR/types/*.md        one page per nested type (dataclass, pydantic model, enum)
    DIR/asyncapi.json     the AsyncAPI 3.0 document of the service
    DIR/contracts.json    the contract file (``momentum check --against DIR/contracts.json``)

Writing again into the same folder replaces these files and removes the pages of events
and types that no longer exist (only in a folder whose ``sidebar.json`` momentum wrote).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from momentum.docs.contract_file import dumps, export_contracts
from momentum.docs.markdown import (
    EVENTS_DIR,
    INDEX,
    TYPES_DIR,
    event_page,
    event_path,
    index_page,
    sidebar,
    type_page,
    type_path,
)
from momentum.docs.model import Catalog

SIDEBAR: Final = "sidebar.json"
ASYNCAPI: Final = "asyncapi.json"
CONTRACTS: Final = "contracts.json"


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def render_catalog(catalog: Catalog, asyncapi: Mapping[str, Any]) -> dict[str, str]:
    """Every file of the catalog folder: relative path -> text."""
    files = {
        INDEX: index_page(catalog, ASYNCAPI),
        SIDEBAR: _json(sidebar(catalog, ASYNCAPI)),
        ASYNCAPI: _json(asyncapi),
        CONTRACTS: dumps(export_contracts(catalog)),
    }
    for doc in catalog.events:
        files[event_path(doc)] = event_page(doc, catalog)
    for found in catalog.types.values():
        files[type_path(found.python_name)] = type_page(found, catalog)
    return files


def _ours(out: Path) -> bool:
    try:
        data = json.loads((out / SIDEBAR).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("generator") == "momentum"


def write_catalog(files: Mapping[str, str], out: Path) -> list[Path]:
    """Write ``files`` (from :func:`render_catalog`) into ``out``; the paths written, sorted."""
    out.mkdir(parents=True, exist_ok=True)
    if _ours(out):
        for folder in (EVENTS_DIR, TYPES_DIR):
            for page in sorted((out / folder).glob("*.md")):
                if f"{folder}/{page.name}" not in files:
                    page.unlink()
    written: list[Path] = []
    for relative, text in sorted(files.items()):
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")
        written.append(target)
    return written
