"""Helpers of the docs tests: catalogs of packages, the AsyncAPI parser installed from npm."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from momentum.contracts.discovery import defined_classes
from momentum.contracts.modules import import_modules
from momentum.contracts.serialization import Casing
from momentum.docs import Catalog, build_catalog
from momentum.runtime.discovery import discover_handlers

PARSER_PACKAGE = "@asyncapi/parser"
PARSER_VERSION = "3.6.6"
PARSE_SCRIPT = Path(__file__).resolve().with_name("parse_asyncapi.js")


def catalog_of(packages: Sequence[str], casing: Casing = "camel") -> Catalog:
    classes = defined_classes(import_modules(packages))
    handled = [info.message_type for info in discover_handlers(list(packages))]
    return build_catalog(classes, packages, casing=casing, handled=handled)


def parser_dir() -> Path:
    base = Path(os.environ.get("MOMENTUM_CACHE_DIR", Path.home() / ".cache" / "momentum"))
    return base / f"asyncapi-parser-{PARSER_VERSION}"


def install_parser(npm: str) -> Path:
    """Install the parser from the npm registry into the cache (once; later runs reuse it)."""
    target = parser_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    done = target / ".installed"
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers install it once between them
        if done.exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        (target / "package.json").write_text(json.dumps({"private": True}))
        subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                f"{PARSER_PACKAGE}@{PARSER_VERSION}",
            ],
            cwd=target,
            check=True,
            capture_output=True,
            timeout=600,
        )
        done.touch()
    return target


def parse(node: str, parser: Path, document: Any, tmp: Path) -> tuple[int, list[dict[str, Any]]]:
    """Run the official parser on ``document``: its exit code and diagnostics."""
    path = tmp / "asyncapi.json"
    path.write_text(json.dumps(document))
    done = subprocess.run(
        [node, str(PARSE_SCRIPT), str(parser), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    diagnostics = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, diagnostics
