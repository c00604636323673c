"""The ``momentum`` command line.

Commands: ``topics``, ``check``, ``describe``, ``demo``, ``provision``, ``run``.
"""

from __future__ import annotations

from momentum.cli import contracts, demo, handlers, provision, run
from momentum.cli.app import app

__all__ = ["app", "contracts", "demo", "handlers", "main", "provision", "run"]


def main() -> None:
    """Entry point of the ``momentum`` console script."""
    app()
