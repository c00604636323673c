"""Print the contract file of packages imported from a given source tree (a subprocess).

``momentum check --against REV`` runs ``python -P -m momentum.docs.export --root TREE --path
DIR ... PACKAGE...`` on the tree of a git revision: the running momentum is imported first,
then the ``--path`` folders go in front of ``sys.path``, so the packages (and only they) come
from the old tree. A package found elsewhere means it does not exist at that revision: exit 2
with ``error: ...`` on stderr, as for a package that fails to import.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import cast

from momentum.contracts.discovery import defined_classes
from momentum.contracts.errors import ContractBaselineError, MomentumError
from momentum.contracts.modules import import_modules
from momentum.contracts.serialization import CASINGS, Casing
from momentum.docs.contract_file import dumps, export_contracts
from momentum.docs.model import build_catalog


def _origin(module: ModuleType) -> list[Path]:
    if getattr(module, "__file__", None):
        return [Path(str(module.__file__)).resolve()]
    return [Path(p).resolve() for p in getattr(module, "__path__", [])]


def _check_origin(packages: Sequence[str], root: Path) -> None:
    for name in packages:
        module = sys.modules[name]
        places = _origin(module)
        if not places or not all(place.is_relative_to(root) for place in places):
            where = ", ".join(str(p) for p in places) or "nowhere"
            raise ContractBaselineError(
                f"package {name!r} is not in the tree of the revision (it was imported from "
                f"{where}): it does not exist there, or lives in a folder not on the path"
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the exporter; 0 with the contract file on stdout, 2 with ``error: ...`` on stderr."""
    parser = argparse.ArgumentParser(prog="python -m momentum.docs.export")
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--path", action="append", default=[])
    parser.add_argument("--casing", choices=CASINGS, default="camel")
    parser.add_argument("packages", nargs="+")
    args = parser.parse_args(argv)
    sys.path[0:0] = list(args.path)
    try:
        modules = import_modules(args.packages)
        _check_origin(args.packages, Path(args.root).resolve())
        catalog = build_catalog(
            defined_classes(modules), args.packages, casing=cast(Casing, args.casing)
        )
        sys.stdout.write(dumps(export_contracts(catalog)))
    except MomentumError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
