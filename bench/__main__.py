"""``python -m bench [--quick] [--only NAME...] [--rounds N] [--ops N] [--out DIR] [--no-gc]``."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from bench import report
from bench.cases import all_benchmarks
from bench.framework import BenchmarkResult, Config, measure

RESULTS = Path(__file__).resolve().parent / "results"

# Candidates measure one path each: services run without a message store unless a benchmark
# gives one explicitly (the durable ones do), and no momentum.db appears in the checkout.
os.environ.setdefault("MOMENTUM_DATABASE_URL", "memory://")
T = TypeVar("T", int, float)


def _positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(text: str) -> T:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few rounds of short runs")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--rounds", type=_positive(int), help="timed rounds per benchmark")
    parser.add_argument(
        "--ops", type=_positive(int), help="fixed ops per round (default: calibrated)"
    )
    parser.add_argument(
        "--round-seconds", type=_positive(float), help="calibration target per round"
    )
    parser.add_argument("--no-gc", action="store_true", help="disable GC while timing")
    parser.add_argument(
        "--out",
        type=Path,
        help="directory for latest.json and latest.md (default: bench/results, or "
        "bench/results/quick with --quick so smoke runs never replace the published table)",
    )
    parser.add_argument("--list", action="store_true", help="list benchmarks and candidates")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> Config:
    """The measuring configuration the options ask for."""
    config = Config.quick() if args.quick else Config()
    return dataclasses.replace(
        config,
        rounds=config.rounds if args.rounds is None else args.rounds,
        ops=config.ops if args.ops is None else args.ops,
        round_seconds=config.round_seconds if args.round_seconds is None else args.round_seconds,
        disable_gc=args.no_gc,
    )


def _warn_if_busy() -> None:
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > cores / 2:
        print(
            f"warning: load average {load:.2f} on {cores} cores; other processes will add "
            "noise to the timings",
            file=sys.stderr,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks, print a summary and write the reports."""
    args = parse_args(argv)
    benchmarks = all_benchmarks()
    if args.only:
        unknown = set(args.only) - {b.name for b in benchmarks}
        if unknown:
            known = ", ".join(b.name for b in benchmarks)
            print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {known}")
            return 2
        benchmarks = [b for b in benchmarks if b.name in args.only]
    if args.list:
        for bench in benchmarks:
            print(f"{bench.name}: {bench.title}")
            for cand in bench.candidates:
                print(f"  {cand.name}")
        return 0
    config = config_from(args)
    _warn_if_busy()
    results: list[BenchmarkResult] = []
    for bench in benchmarks:
        print(f"{bench.name}: {len(bench.candidates)} candidates", file=sys.stderr, flush=True)
        result = measure(bench, config)
        results.append(result)
        report.print_summary(result)
        sys.stdout.flush()
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    json_path, md_path = report.write(results, out)
    print(f"\nwrote {md_path} and {json_path}")
    failed = [
        f"{r.benchmark.name} / {c.name}"
        for r in results
        for c in r.candidates
        if c.skipped is not None and c.skipped.startswith("setup failed")
    ]
    if failed:
        print(f"candidates that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
