"""One module per benchmark; each defines ``BENCHMARK: bench.framework.Benchmark``."""

from __future__ import annotations

import importlib
import pkgutil

from bench.framework import Benchmark


def all_benchmarks() -> list[Benchmark]:
    """Every benchmark in this package, sorted by module name."""
    found: list[Benchmark] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        benchmark = getattr(module, "BENCHMARK", None)
        if not isinstance(benchmark, Benchmark):
            raise TypeError(f"{module.__name__} does not define BENCHMARK = Benchmark(...)")
        found.append(benchmark)
    return found
