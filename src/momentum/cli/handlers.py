"""``momentum describe``: every handler candidate in some packages and why it was (not) taken."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from momentum.cli.app import app
from momentum.contracts.errors import MomentumError
from momentum.runtime.discovery import discover


@app.command()
def describe(
    packages: Annotated[list[str], typer.Argument(help="Packages to scan, e.g. app_domain.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    rejected_only: Annotated[
        bool, typer.Option("--rejected", help="Only functions that were not taken.")
    ] = False,
) -> None:
    """List handler and validator candidates with the reason each was or was not taken."""
    try:
        found = discover(packages)
    except MomentumError as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    candidates = [c for c in found.candidates if not (rejected_only and c.accepted)]
    if as_json:
        rows = [
            {
                "name": c.name,
                "role": c.role,
                "accepted": c.accepted,
                "reason": c.reason,
                "location": c.location,
            }
            for c in candidates
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("", "function", "decision")
    for c in candidates:
        mark = "[green]✓[/]" if c.accepted else "[yellow]✗[/]"
        table.add_row(mark, c.name, c.reason)
    Console().print(table)
