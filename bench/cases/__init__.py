"""Benchmark modules: each defines ``BENCHMARK: bench.framework.Benchmark``, or
``BENCHMARKS: list[Benchmark]`` for a family of related benchmarks (``durable``)."""

from __future__ import annotations

import importlib
import pkgutil

from bench.framework import Benchmark


def all_benchmarks() -> list[Benchmark]:
    """Every benchmark in this package, sorted by module name (a module's in its order)."""
    found: list[Benchmark] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        family = getattr(module, "BENCHMARKS", None)
        benchmarks = [getattr(module, "BENCHMARK", None)] if family is None else list(family)
        if not benchmarks or not all(isinstance(b, Benchmark) for b in benchmarks):
            raise TypeError(
                f"{module.__name__} does not define BENCHMARK = Benchmark(...) "
                "or BENCHMARKS = [Benchmark(...), ...]"
            )
        found.extend(benchmarks)
    return found
