"""The ``momentum`` command line: ``topics``, ``check``, ``describe``, ``demo``, ``run``."""

from __future__ import annotations

from momentum.cli import contracts, demo, handlers, run
from momentum.cli.app import app

__all__ = ["app", "contracts", "demo", "handlers", "main", "run"]


def main() -> None:
    """Entry point of the ``momentum`` console script."""
    app()
