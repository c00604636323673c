"""The public names of ``momentum``: a sorted ``__all__``, and every name the README uses."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import momentum

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"```.*?```", re.DOTALL)
IMPORT = re.compile(r"^\s*from momentum import \(?([\w\s,]+?)\)?\s*$", re.MULTILINE)
SPAN = re.compile(r"`([^`]+)`")
# Where a name the README mentions must come from `momentum` itself: the core layers. The
# adapters and edges (momentum.kafka, .postgres, .sqlite, .testing, .cli) are imported by name.
CORE = ("momentum.contracts.", "momentum.runtime.", "momentum.service", "momentum.settings")


def core_names() -> dict[str, str]:
    """Every public class or function defined in the core layers -> its module."""
    found: dict[str, str] = {}
    for info in pkgutil.walk_packages(momentum.__path__, "momentum."):
        if not info.name.startswith(CORE):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            defined_here = getattr(value, "__module__", None) == info.name
            if defined_here and not name.startswith("_") and inspect.isclass(value):
                found[name] = info.name
    return found


def readme_names() -> set[str]:
    """Names the README imports from `momentum`, writes as `momentum.Name`, or uses in prose."""
    text = README.read_text()
    names = {
        name.strip()
        for block in FENCE.findall(text)
        for group in IMPORT.findall(block)
        for name in group.split(",")
        if name.strip()
    }
    core = core_names()
    for span in SPAN.findall(FENCE.sub("", text)):
        names.update(re.findall(r"(?<![\w.])momentum\.([A-Z]\w*)\b(?!\.)", span))
        # a class of the core named bare (not a `*Suffix` naming convention, not qualified)
        names.update(n for n in re.findall(r"(?<![\w.*])([A-Z]\w+)", span) if n in core)
    return names


def test_all_is_sorted_and_every_name_is_importable() -> None:
    assert momentum.__all__ == sorted(momentum.__all__)
    assert len(set(momentum.__all__)) == len(momentum.__all__)
    for name in momentum.__all__:
        assert getattr(momentum, name) is not None, name


def test_every_name_the_readme_uses_is_exported_from_momentum() -> None:
    names = readme_names()
    # the names the README's features need (not only those it happens to import)
    assert {
        "StoreTransaction",
        "ErrorRule",
        "CircuitBreakerSettings",
        "DeadLetterFilter",
        "Transport",
    } <= names
    missing = sorted(name for name in names if name not in momentum.__all__)
    assert missing == [], f"used by the README, not exported from momentum: {missing}"
    for name in names:
        exec(f"from momentum import {name}", {})  # importable as the README writes it
