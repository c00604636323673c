"""Generated documentation and contract safety for event contracts (an edge layer).

- :func:`build_catalog` (:mod:`.model`) reads the events of a set of packages;
  :func:`render_catalog` / :func:`write_catalog` (:mod:`.writer`) turn it into a Markdown
  catalog with navigation (:mod:`.markdown`), an AsyncAPI 3.0 document (:mod:`.asyncapi`)
  and a contract file (:mod:`.contract_file`).

``momentum docs`` is the command-line front end.
"""

from __future__ import annotations

from momentum.docs.asyncapi import asyncapi_document
from momentum.docs.contract_file import export_contracts, load_contracts
from momentum.docs.model import Catalog, EventDoc, TypeDoc, build_catalog
from momentum.docs.writer import render_catalog, write_catalog

__all__ = [
    "Catalog",
    "EventDoc",
    "TypeDoc",
    "asyncapi_document",
    "build_catalog",
    "export_contracts",
    "load_contracts",
    "render_catalog",
    "write_catalog",
]
