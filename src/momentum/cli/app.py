"""The Typer application every CLI command registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="momentum: event-driven messaging for Python services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
