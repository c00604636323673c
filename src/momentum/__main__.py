"""The ``momentum`` console script (and ``python -m momentum``).

Starts the command line, or, when the ``cli`` extra is not installed, says in one line how to
install it (exit code 2) instead of failing with an import error.
"""

from __future__ import annotations

import sys

CLI_PACKAGES = frozenset({"typer", "rich", "click", "docstring_parser"})
"""Packages the command line imports that only the ``cli`` extra installs (``docs`` with it)."""


def main() -> None:
    """Run the command line; without the ``cli`` extra, print how to install it and exit 2.

    Also when a command imports a package of the extra only when it runs (``momentum docs``).
    """
    try:
        from momentum.cli import main as cli

        cli()
    except ImportError as exc:
        if exc.name not in CLI_PACKAGES:
            raise
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
