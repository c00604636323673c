"""The layering rules of the README's architecture section, enforced on the source tree.

Imports point down only: edges -> host -> adapters -> runtime -> contracts. Adapters never
import one another, and each database/broker driver appears only inside its own adapter.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "momentum"

LAYER_OF_PACKAGE = {
    "contracts": 0,
    "runtime": 1,
    "kafka": 2,
    "postgres": 2,
    "sqlite": 2,
    "otel": 2,
    "service": 3,
    "settings": 3,
    "wiring": 3,
    "health": 3,
    "cli": 4,
    "testing": 4,
    "docs": 4,
    "__main__": 4,  # the console script: the command line, or which extra it needs
}
ADAPTERS = {"kafka", "postgres", "sqlite", "otel"}
DRIVER_HOME = {
    "confluent_kafka": "kafka",
    "psycopg": "postgres",
    "psycopg_pool": "postgres",
    "sqlite3": "sqlite",
    "aiosqlite": "sqlite",
    "opentelemetry": "otel",
}


def _component(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "momentum":
        return None
    return parts[1] if len(parts) > 1 else ""


def _imports(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            out.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
    return out


def violations(source: str, module: str) -> list[str]:
    """Every layering violation of one module's source text."""
    me = _component(module)
    assert me is not None
    if me == "":
        return []  # momentum/__init__.py re-exports the public API from every layer
    my_layer = LAYER_OF_PACKAGE.get(me)
    if my_layer is None:
        return [f"{module}: momentum.{me} has no layer in the architecture (README); add it here"]
    problems = []
    for line, target in _imports(ast.parse(source), module):
        top = target.split(".")[0]
        home = DRIVER_HOME.get(top)
        if home is not None and home != me:
            problems.append(f"{module}:{line} imports driver {top} outside momentum.{home}")
        other = _component(target)
        if other is None or other == "" or other == me:
            continue
        if other not in LAYER_OF_PACKAGE:
            continue  # `from momentum import X` style names resolved through momentum/__init__
        if LAYER_OF_PACKAGE[other] > my_layer:
            problems.append(f"{module}:{line} imports momentum.{other} (a higher layer)")
        elif me in ADAPTERS and other in ADAPTERS:
            problems.append(f"{module}:{line} adapter imports another adapter momentum.{other}")
    return list(dict.fromkeys(problems))  # `from a import b` is seen as a and a.b: report once


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


def test_source_tree_respects_layers() -> None:
    problems = [p for name, path in _modules() for p in violations(path.read_text(), name)]
    assert problems == []


def test_core_never_imports_momentum_top_level() -> None:
    # `from momentum import X` inside the core would pull in every layer via __init__.
    problems = []
    for name, path in _modules():
        if _component(name) not in {"contracts", "runtime"}:
            continue
        for line, target in _imports(ast.parse(path.read_text()), name):
            if target == "momentum" or (
                target.startswith("momentum.")
                and target.count(".") == 1
                and _component(target) not in LAYER_OF_PACKAGE
            ):
                problems.append(f"{name}:{line} imports the top-level momentum package")
    assert problems == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("momentum.runtime.bus", "from momentum.service import Service\n", "a higher layer"),
        ("momentum.contracts.naming", "import momentum.runtime.bus\n", "a higher layer"),
        ("momentum.runtime.relay", "import confluent_kafka\n", "driver confluent_kafka"),
        ("momentum.contracts.x", "from psycopg import AsyncConnection\n", "driver psycopg"),
        ("momentum.kafka.transport", "from momentum.postgres import store\n", "another adapter"),
        ("momentum.sqlite.store", "from ..runtime import ports\nimport sqlite3\n", None),
        ("momentum.runtime.bus", "from ..service import Service\n", "a higher layer"),
        ("momentum.cli.main", "from momentum.kafka import KafkaTransport\n", None),
        ("momentum.newthing.x", "import os\n", "has no layer"),
    ],
)
def test_checker_catches_violations(module: str, source: str, expected: str | None) -> None:
    found = violations(source, module)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found
