"""The contract file: the integration events of a set of packages as JSON, for comparisons.

``momentum docs`` writes it as ``contracts.json`` beside the catalog and ``momentum check
--export FILE`` writes it alone; ``momentum check --against FILE`` compares the packages'
current contracts with it. Layout (``version`` 1)::

    {
      "format": "momentum-contracts",
      "version": 1,
      "packages": ["app_domain"],
      "casing": "camel",
      "events": [
        {
          "type_name": "app_domain.cashiers.contracts.integration_events.CashierCreated",
          "name": "app_domain.cashiers.contracts.integration_events.CashierCreated",
          "status": "active",
          "deprecation": null,
          "topic": "{env}.appdomain.public.cashiers.v1",
          "version": "v1",
          "partition_key": {"fields": ["tenantId"], "method": false},
          "schema": {"type": "object", "properties": {...}, "$defs": {...}}
        }
      ]
    }

``type_name`` (the ``ce_type`` on the wire) identifies an event across versions of the code;
``schema`` is the wire JSON Schema (:mod:`momentum.docs.schemas`). Only integration events
are contracts: domain events never leave the service.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from momentum.contracts.errors import ContractBaselineError
from momentum.contracts.serialization import CASINGS
from momentum.docs.model import Catalog, EventDoc

FORMAT: Final = "momentum-contracts"
VERSION: Final = 1


def _event(doc: EventDoc) -> dict[str, Any]:
    assert doc.wire is not None
    return {
        "type_name": doc.info.type_name,
        "name": doc.python_name,
        "status": doc.status,
        "deprecation": doc.doc.deprecation,
        "topic": doc.topic,
        "version": doc.version,
        "partition_key": {
            "fields": list(doc.partition_key),
            "method": doc.info.partition_key_method,
        },
        "schema": doc.wire.schema,
    }


def export_contracts(catalog: Catalog) -> dict[str, Any]:
    """The contract file content of a catalog's integration events (see the module docstring).

    Events pydantic cannot describe are left out: ``momentum check`` reports them as errors.
    """
    return {
        "format": FORMAT,
        "version": VERSION,
        "packages": list(catalog.packages),
        "casing": catalog.casing,
        "events": [
            _event(doc) for doc in catalog.events if doc.is_integration and doc.wire is not None
        ],
    }


def dumps(contracts: dict[str, Any]) -> str:
    """The contract file text: indented, keys in their order, ending with a newline."""
    return json.dumps(contracts, indent=2, ensure_ascii=False) + "\n"


def validate_contracts(data: Any, where: str) -> dict[str, Any]:
    """``data`` when it is a contract file's content; :class:`ContractBaselineError` if not."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ContractBaselineError(
            f'{where} is not a momentum contract file (no "format": "{FORMAT}"); write one '
            f"with `momentum check PACKAGE --export FILE` or `momentum docs PACKAGE -o DIR`."
        )
    if data.get("version") != VERSION:
        raise ContractBaselineError(
            f"{where} is a contract file of version {data.get('version')!r}; this momentum "
            f"reads version {VERSION}: export it again with this version."
        )
    events = data.get("events")
    valid_events = isinstance(events, list) and all(
        isinstance(e, dict)
        and isinstance(e.get("type_name"), str)
        and isinstance(e.get("schema"), dict)
        and isinstance(e.get("partition_key"), dict)
        for e in events
    )
    if not valid_events or data.get("casing") not in CASINGS:
        raise ContractBaselineError(
            f"{where} is a damaged contract file: it needs a casing and a list of events "
            f"with type_name, partition_key and schema."
        )
    return data


def load_contracts(path: str | Path) -> dict[str, Any]:
    """Read and validate a contract file; :class:`ContractBaselineError` when it is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractBaselineError(f"Cannot read the contract file {str(path)!r}: {exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ContractBaselineError(f"{str(path)!r} is not valid JSON: {exc}") from exc
    return validate_contracts(data, repr(str(path)))
