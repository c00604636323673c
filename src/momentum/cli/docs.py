"""``momentum docs PACKAGE... -o DIR``: the event catalog, AsyncAPI document and contract file.

Writes one Markdown page per integration and domain event and per nested type, an index
grouped by domain and subdomain, ``sidebar.json``, ``asyncapi.json`` and ``contracts.json``
(see :mod:`momentum.docs.writer`). Problems (a missing docstring or field description, or
anything else ``momentum check`` reports) are flagged on the pages; the command still exits 0.
Exit code 2: the packages cannot be imported, or an option is invalid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from momentum.cli.app import app
from momentum.cli.contracts import Packages, _scan
from momentum.contracts.errors import MomentumError
from momentum.contracts.naming import environment_short_name, kebab_case, validate_service_name
from momentum.contracts.serialization import CASINGS, Casing
from momentum.runtime.discovery import discover_handlers

CasingOption = Annotated[
    str,
    typer.Option(
        "--casing",
        envvar="MOMENTUM_CASING",
        help="Property casing on the wire: camel, snake or pascal (the service setting).",
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def checked_casing(casing: str) -> Casing:
    """``casing`` when it is one of :data:`CASINGS`; else ``error: ...`` and exit 2."""
    if casing not in CASINGS:
        raise _fail(f"--casing must be one of {', '.join(CASINGS)}, not {casing!r}")
    return casing


def _service_name(name: str | None, packages: list[str]) -> str:
    candidate = name or kebab_case(packages[0].split(".")[0])
    try:
        return validate_service_name(candidate)
    except MomentumError as exc:
        raise _fail(f"--service: {exc}") from exc


def _environments(values: list[str] | None) -> tuple[str, ...]:
    from momentum.docs.model import DEFAULT_ENVIRONMENTS

    chosen = tuple(values) if values else DEFAULT_ENVIRONMENTS
    for env in chosen:
        short = environment_short_name(env)
        if not short or not all(c.isalnum() or c in "-_" for c in short):
            raise _fail(f"--env {env!r} is not an environment name (letters, digits, - and _)")
    return chosen


def _handled(packages: list[str]) -> list[type]:
    try:
        return [info.message_type for info in discover_handlers(packages)]
    except MomentumError as exc:
        typer.echo(f"warning: no receive operations: cannot list handlers: {exc}", err=True)
        return []


@app.command("docs")
def docs(
    packages: Packages,
    output: Annotated[
        Path,
        typer.Option(
            "-o", "--output", help="Folder to write the catalog into.", show_default=False
        ),
    ],
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            help="Environment whose topic names the pages show (repeat; default development, "
            "staging, production).",
            show_default=False,
        ),
    ] = None,
    casing: CasingOption = "camel",
    service: Annotated[
        str | None,
        typer.Option(
            help="Service name of the AsyncAPI document and its consumer groups "
            "(default: the first package in kebab case).",
            show_default=False,
        ),
    ] = None,
    partitions: Annotated[
        int, typer.Option(min=1, help="Partitions per topic in the AsyncAPI Kafka bindings.")
    ] = 3,
    api_version: Annotated[
        str, typer.Option("--api-version", help="info.version of the AsyncAPI document.")
    ] = "1.0.0",
) -> None:
    """Write the event catalog (Markdown), the AsyncAPI 3.0 document and the contract file."""
    from momentum.docs import asyncapi_document, build_catalog, render_catalog, write_catalog

    wire_casing = checked_casing(casing)
    environments = _environments(env)
    name = _service_name(service, packages)
    if output.exists() and not output.is_dir():
        raise _fail(f"--output {str(output)!r} exists and is not a folder")
    classes = _scan(packages)
    catalog = build_catalog(
        classes,
        packages,
        casing=wire_casing,
        environments=environments,
        handled=_handled(packages),
    )
    document = asyncapi_document(catalog, service=name, partitions=partitions, version=api_version)
    try:
        write_catalog(render_catalog(catalog, document), output)
    except OSError as exc:
        raise _fail(f"cannot write the catalog into {str(output)!r}: {exc}") from exc
    flagged = [doc for doc in catalog.events if doc.problems]
    flagged_types = [found for found in catalog.types.values() if found.problems]
    typer.echo(
        f"Wrote {len(catalog.events)} event page(s) and {len(catalog.types)} type page(s) of "
        f"{', '.join(packages)} to {output}/ with index.md, sidebar.json, asyncapi.json "
        f"({len(document['operations'])} operation(s)) and contracts.json."
    )
    if flagged or flagged_types:
        typer.echo(
            f"{len(flagged) + len(flagged_types)} page(s) flag problems (missing docstrings or "
            f"descriptions...): see `momentum check {' '.join(packages)}`."
        )
