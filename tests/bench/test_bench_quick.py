"""The benchmark framework end to end on the invoke benchmark, with tiny op counts.

Runs ``python -m bench --quick`` in-process with the project's venv: momentum and the bare
baseline run, peers that are not installed here are reported as skipped. Only the shape of
the reports is checked, never timings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.__main__ import main  # noqa: E402
from bench.cases.invoke import BENCHMARK  # noqa: E402

ROUNDS = 3
OPS = 20
ALWAYS_RUN = (
    "bare await",
    "momentum invoke (no middleware)",
    "momentum invoke (default middleware)",
)
HEADER = "| benchmark | candidate | median | spread | ratio vs baseline | target |"


def test_quick_invoke_writes_json_and_markdown(tmp_path: Path) -> None:
    args = ["--quick", "--only", "invoke", "--rounds", str(ROUNDS), "--ops", str(OPS)]
    assert main([*args, "--out", str(tmp_path)]) == 0

    data = json.loads((tmp_path / "latest.json").read_text())
    machine = data["machine"]
    assert {"cpu", "cores", "python", "packages"} <= machine.keys()
    assert machine["packages"]["momentum-messaging"]
    assert {"python-cqrs", "faststream", "mediatr"} <= machine["packages"].keys()

    (bench,) = data["benchmarks"]
    assert bench["name"] == "invoke"
    assert bench["baseline"] == "bare await"
    assert bench["config"]["rounds"] == ROUNDS
    candidates = {c["name"]: c for c in bench["candidates"]}
    assert list(candidates) == [c.name for c in BENCHMARK.candidates]

    for name in ALWAYS_RUN:
        cand = candidates[name]
        assert cand["skipped"] is None, cand["skipped"]
        assert cand["ops_per_round"] == OPS
        assert len(cand["samples_ns"]) == ROUNDS
        assert cand["min_ns"] <= cand["median_ns"] <= cand["max_ns"]
        assert cand["ratio"] > 0
    assert candidates["bare await"]["ratio"] == 1.0
    assert candidates["momentum invoke (no middleware)"]["max_ratio"] == 10
    assert candidates["momentum invoke (default middleware)"]["max_ratio"] == 25
    assert isinstance(candidates["momentum invoke (no middleware)"]["target_met"], bool)
    for cand in candidates.values():
        assert cand["skipped"] is None or cand["skipped"].startswith("not installed")

    markdown = (tmp_path / "latest.md").read_text()
    lines = markdown.splitlines()
    assert HEADER in lines
    rows = [line for line in lines[lines.index(HEADER) + 2 :] if line.startswith("| invoke |")]
    assert [row.split(" | ")[1] for row in rows] == list(candidates)
    assert all(row.count(" | ") == 5 for row in rows)
    assert "| invoke | bare await |" in markdown and "| baseline |" in markdown
    for name, cand in candidates.items():
        row = next(r for r in rows if r.startswith(f"| invoke | {name} |"))
        assert ("skipped:" in row) == (cand["skipped"] is not None)


def test_latency_benchmark_reports_percentiles_and_absolute_targets(tmp_path: Path) -> None:
    import dataclasses
    from collections.abc import AsyncIterator, Sequence
    from contextlib import asynccontextmanager

    from bench.framework import Benchmark, Config, Skip, measure

    from bench import report

    def latencies_of(scale: float) -> object:
        @asynccontextmanager
        async def setup() -> AsyncIterator[object]:
            async def run(n: int) -> Sequence[float]:
                return [scale * (i + 1) for i in range(n)]

            yield run

        return setup

    @asynccontextmanager
    async def unavailable() -> AsyncIterator[object]:
        raise Skip("no broker")
        yield  # pragma: no cover

    bench = Benchmark(
        "latency-shape",
        "percentiles",
        baseline="base",
        latency=True,
        adjust=lambda c: dataclasses.replace(c, rounds=2, ops=100, warmup_seconds=0),
    )
    bench.add("base", latencies_of(1.0))  # type: ignore[arg-type]
    bench.add("twice", latencies_of(2.0), max_ns=150, max_p99_ns=1_000)  # type: ignore[arg-type]
    bench.add("absent", unavailable)  # type: ignore[arg-type]
    result = measure(bench, Config.quick())

    assert result.config.rounds == 2 and result.config.ops == 100
    _, twice, absent = result.candidates
    assert len(twice.latencies_ns) == 200
    assert twice.percentile(50) == 100 and twice.percentile(99) == 198
    assert result.ratio(twice) == 2.0
    assert result.target_met(twice) is True
    assert absent.skipped == "not run: no broker"
    data = report.to_json([result], report.machine_info())["benchmarks"][0]["candidates"]
    assert data[1]["p50_ns"] == 100 and data[1]["p99_ns"] == 198
    markdown = report.to_markdown([result], report.machine_info())
    times = "\N{MULTIPLICATION SIGN}"
    row = f"| latency-shape | twice | p50 100 ns | p99 198 ns, max 200 ns | 2.00{times} |"
    assert row in markdown


@pytest.mark.timeout(300)
def test_the_whole_quick_suite_runs_every_candidate(tmp_path: Path) -> None:
    """`bench --quick` proves every benchmark still works: no candidate fails or is skipped
    for any reason but a peer framework not installed in the project's environment."""
    from bench.cases import all_benchmarks

    assert main(["--quick", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "latest.json").read_text())
    assert [b["name"] for b in data["benchmarks"]] == [b.name for b in all_benchmarks()]
    for bench in data["benchmarks"]:
        for cand in bench["candidates"]:
            skipped = cand["skipped"]
            assert skipped is None or skipped.startswith("not installed"), (
                f"{bench['name']} / {cand['name']}: {skipped}"
            )
            if skipped is None:
                assert cand["median_ns"] > 0
