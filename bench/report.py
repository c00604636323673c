"""Machine information and the JSON / Markdown reports of a benchmark run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.framework import BenchmarkResult, CandidateResult

PACKAGES = (
    "momentum-messaging",
    "python-cqrs",
    "di",
    "faststream",
    "aiokafka",
    "fast-depends",
    "mediatr",
    "pydantic",
)
"""Distributions whose versions are recorded (the project and the peers)."""

ROOT = Path(__file__).resolve().parent.parent
TIMES = "\N{MULTIPLICATION SIGN}"
DASH = "\N{EN DASH}"


def machine_info() -> dict[str, Any]:
    """CPU, cores, load, Python and package versions of this run."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions,
        "git_commit": _git_commit(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def to_json(results: Sequence[BenchmarkResult], machine: dict[str, Any]) -> dict[str, Any]:
    """The JSON document of a run."""
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "benchmarks": [_benchmark_json(r) for r in results],
    }


def _benchmark_json(result: BenchmarkResult) -> dict[str, Any]:
    bench = result.benchmark
    return {
        "name": bench.name,
        "title": bench.title,
        "baseline": bench.baseline,
        "target": bench.target,
        "config": asdict(result.config),
        "seconds": round(result.seconds, 2),
        "candidates": [_candidate_json(result, c) for c in result.candidates],
    }


def _candidate_json(result: BenchmarkResult, cand: CandidateResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": cand.name,
        "note": cand.note,
        "max_ratio": cand.max_ratio,
        "skipped": cand.skipped,
    }
    if cand.skipped is not None:
        return data
    paired = result.paired_ratios(cand)
    q1, q3 = cand.iqr_ns
    data.update(
        ops_per_round=cand.ops,
        median_ns=cand.median_ns,
        min_ns=cand.min_ns,
        max_ns=cand.max_ns,
        q1_ns=q1,
        q3_ns=q3,
        ratio=result.ratio(cand),
        paired_ratio_min=min(paired) if paired else None,
        paired_ratio_max=max(paired) if paired else None,
        target_met=result.target_met(cand),
        samples_ns=cand.samples_ns,
    )
    if cand.target_ns is not None:
        data["target_ns"] = cand.target_ns
    if result.benchmark.show_rate:
        data["ops_per_second"] = 1e9 / cand.median_ns
    if result.benchmark.latency and cand.latencies_ns:
        data.update(
            latency_count=len(cand.latencies_ns),
            p50_ns=cand.percentile(50),
            p90_ns=cand.percentile(90),
            p99_ns=cand.percentile(99),
            p999_ns=cand.percentile(99.9),
            latency_max_ns=max(cand.latencies_ns),
            target_p99_ns=cand.target_p99_ns,
        )
    return data


def format_ns(ns: float) -> str:
    """``812 ns``, ``1.23 µs``, ``45.6 µs``, ``132 µs``, ``1.20 ms``."""
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        value, unit = ns / 1_000, "µs"
    else:
        value, unit = ns / 1_000_000, "ms"
    digits = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{digits}f} {unit}"


def _format_ratio(ratio: float) -> str:
    digits = 2 if ratio < 10 else 1 if ratio < 100 else 0
    return f"{ratio:.{digits}f}{TIMES}"


def _rate(per_second: float) -> str:
    if per_second >= 1_000_000:
        return f"{per_second / 1_000_000:.2f}M/s"
    if per_second >= 1_000:
        return f"{per_second / 1_000:.1f}k/s"
    return f"{per_second:.0f}/s"


def _cells(result: BenchmarkResult, cand: CandidateResult) -> tuple[str, str]:
    """The median and spread cells (percentiles for a latency benchmark)."""
    if result.benchmark.latency and cand.latencies_ns:
        return (
            f"p50 {format_ns(cand.percentile(50))}",
            f"p99 {format_ns(cand.percentile(99))}, max {format_ns(max(cand.latencies_ns))}",
        )
    median = format_ns(cand.median_ns)
    if result.benchmark.show_rate:
        median += f" ({_rate(1e9 / cand.median_ns)})"
    return median, f"{format_ns(cand.min_ns)} {DASH} {format_ns(cand.max_ns)}"


def _target_cell(result: BenchmarkResult, cand: CandidateResult) -> str:
    if cand.name == result.benchmark.baseline:
        return "baseline"
    parts: list[str] = []
    if cand.max_ratio is not None:
        parts.append(f"≤ {cand.max_ratio:g}{TIMES}")
    if cand.target_ns is not None:
        if result.benchmark.latency:
            parts.append(f"p50 ≤ {format_ns(cand.target_ns)}")
        elif result.benchmark.show_rate:
            parts.append(f"≥ {_rate(1e9 / cand.target_ns)}")
        else:
            parts.append(f"≤ {format_ns(cand.target_ns)}")
    if cand.target_p99_ns is not None:
        parts.append(f"p99 ≤ {format_ns(cand.target_p99_ns)}")
    if not parts:
        return ""
    met = result.target_met(cand)
    verdict = "" if met is None else " met" if met else " **missed**"
    return ", ".join(parts) + verdict


def to_markdown(results: Sequence[BenchmarkResult], machine: dict[str, Any]) -> str:
    """The Markdown report: one table for all benchmarks, then notes and machine details."""
    lines = [
        "| benchmark | candidate | median | spread | ratio vs baseline | target |",
        "|---|---|--:|--:|--:|---|",
    ]
    notes: list[str] = []
    for result in results:
        name = result.benchmark.name
        for cand in result.candidates:
            if cand.skipped is not None:
                lines.append(f"| {name} | {cand.name} | — | — | — | skipped: {cand.skipped} |")
                continue
            ratio = result.ratio(cand)
            median, spread = _cells(result, cand)
            lines.append(
                f"| {name} | {cand.name} | {median} | {spread} | "
                f"{_format_ratio(ratio) if ratio is not None else '—'} | "
                f"{_target_cell(result, cand)} |"
            )
            if cand.note:
                notes.append(f"- **{name} / {cand.name}**: {cand.note}")
    config = results[0].config if results else None
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items() if v is not None)
    gc_mode = "disabled" if config is not None and config.disable_gc else "enabled"
    head = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine['cpu']} "
        f"({machine['cores']} cores), {machine['python']}, {machine['platform']}.",
        "",
    ]
    if config is not None:
        counts = {r.config.rounds for r in results}
        rounds = str(config.rounds) if len(counts) == 1 else "the benchmark's"
        head += [
            f"Median ns/op over {rounds} interleaved rounds (each round runs every "
            "candidate once, rotating the order); spread is the fastest and slowest round; "
            "the ratio is the median over the baseline's median measured in the same run. "
            f"GC {gc_mode} while timing, for every candidate.",
            "",
        ]
    tail = ["", *notes, "", f"Versions: {packages}."] if notes else ["", f"Versions: {packages}."]
    bounded = [
        f"- **{r.benchmark.name}**: {r.config.rounds} rounds of "
        f"{r.candidates[0].ops if r.config.ops is None else r.config.ops} ops per candidate"
        + (
            "; median cell: p50 over every latency of every round, spread cell: p99 and max; "
            "ratio: median of per-round p50s over the baseline's"
            if r.benchmark.latency
            else ""
        )
        for r in results
        if r.benchmark.adjust is not None
    ]
    if bounded:
        tail += ["", "Benchmarks with their own bounds:", *bounded]
    targets = [
        f"- **{r.benchmark.name}**: {r.benchmark.target}" for r in results if r.benchmark.target
    ]
    if targets:
        tail += ["", "Targets:", *targets]
    return "\n".join([*head, *lines, *tail]) + "\n"


def write(results: Sequence[BenchmarkResult], out_dir: Path) -> tuple[Path, Path]:
    """Write ``latest.json`` and ``latest.md`` into ``out_dir``; return their paths."""
    machine = machine_info()
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "latest.json"
    md_path = out_dir / "latest.md"
    json_path.write_text(json.dumps(to_json(results, machine), indent=2) + "\n")
    md_path.write_text(to_markdown(results, machine))
    return json_path, md_path


def print_summary(result: BenchmarkResult, file: Any = sys.stdout) -> None:
    """A plain-text table of one benchmark on ``file``."""
    print(f"\n{result.benchmark.name}: {result.benchmark.title}", file=file)
    width = max(len(c.name) for c in result.candidates)
    for cand in result.candidates:
        if cand.skipped is not None:
            print(f"  {cand.name:<{width}}  skipped: {cand.skipped}", file=file)
            continue
        ratio = result.ratio(cand)
        ratio_text = _format_ratio(ratio) if ratio is not None else "—"
        median, spread = _cells(result, cand)
        print(
            f"  {cand.name:<{width}}  {median:>9}  ({spread:>21})  "
            f"{ratio_text:>7}  {_target_cell(result, cand).replace('**', '')}",
            file=file,
        )
