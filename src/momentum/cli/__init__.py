"""The ``momentum`` command line.

Commands: ``topics``, ``check``, ``docs``, ``describe``, ``demo``, ``provision``, ``run``,
``dlq list|show|replay|purge``, ``outbox status``.
"""

from __future__ import annotations

from momentum.cli import contracts, demo, dlq, docs, handlers, outbox, provision, run
from momentum.cli.app import app

__all__ = [
    "app",
    "contracts",
    "demo",
    "dlq",
    "docs",
    "handlers",
    "main",
    "outbox",
    "provision",
    "run",
]


def main() -> None:
    """Entry point of the ``momentum`` console script."""
    app()
