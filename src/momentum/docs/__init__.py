"""Generated documentation and contract safety for event contracts (an edge layer).

- :func:`build_catalog` (:mod:`.model`) reads the events of a set of packages;
  :func:`render_catalog` / :func:`write_catalog` (:mod:`.writer`) turn it into a Markdown
  catalog with navigation (:mod:`.markdown`), an AsyncAPI 3.0 document (:mod:`.asyncapi`)
  and a contract file (:mod:`.contract_file`).
- :func:`compare_contracts` (:mod:`.compatibility`) reports breaking and safe changes
  between two contract files; :func:`load_baseline` (:mod:`.revisions`) reads the old one
  from a file or exports it from a git revision.

``momentum docs`` and ``momentum check --against`` are the command-line front ends.
"""

from __future__ import annotations

from momentum.docs.asyncapi import asyncapi_document
from momentum.docs.compatibility import Change, compare_contracts
from momentum.docs.contract_file import export_contracts, load_contracts
from momentum.docs.model import Catalog, EventDoc, TypeDoc, build_catalog
from momentum.docs.revisions import Baseline, contracts_at_revision, load_baseline
from momentum.docs.writer import render_catalog, write_catalog

__all__ = [
    "Baseline",
    "Catalog",
    "Change",
    "EventDoc",
    "TypeDoc",
    "asyncapi_document",
    "build_catalog",
    "compare_contracts",
    "contracts_at_revision",
    "export_contracts",
    "load_baseline",
    "load_contracts",
    "render_catalog",
    "write_catalog",
]
