"""The ``momentum`` command line (the ``cli`` extra: ``pip install 'momentum-messaging[cli]'``).

Commands: ``topics``, ``check``, ``docs``, ``describe``, ``demo``, ``provision``, ``run``,
``dlq list|show|replay|purge``, ``outbox status``.
"""

from __future__ import annotations

try:
    import rich  # noqa: F401
    import typer  # noqa: F401
except ImportError as exc:  # exercised in a subprocess test
    raise ImportError(
        f"the momentum command line needs {exc.name}, which is not installed: "
        "pip install 'momentum-messaging[cli]'",
        name=exc.name,
    ) from exc

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
