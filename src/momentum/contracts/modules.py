"""Import every module of a set of packages, in a stable order (used by discovery)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from types import ModuleType

from momentum.contracts.errors import ConfigurationError


def import_modules(packages: Iterable[str]) -> list[ModuleType]:
    """Import each named package (or module) and all its submodules.

    Modules are returned once each, sorted by dotted name so discovery is deterministic.
    An import failure becomes a :class:`ConfigurationError` naming the module.
    """
    found: dict[str, ModuleType] = {}
    for name in packages:
        root = _import(name)
        found[root.__name__] = root
        path = getattr(root, "__path__", None)
        if path is None:
            continue
        for info in pkgutil.walk_packages(path, prefix=f"{root.__name__}.", onerror=_raise):
            if info.name not in found:
                found[info.name] = _import(info.name)
    return [found[key] for key in sorted(found)]


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(
            f"Cannot import module {name!r} while scanning for messages and handlers: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _raise(name: str) -> None:
    raise ConfigurationError(f"Cannot import package {name!r} while scanning its submodules")
