"""The benchmark framework: declare candidates, run them in interleaved rounds, summarise.

A benchmark names a baseline and a list of candidates. A candidate is a setup function
returning an async context manager that yields ``run``; ``await run(n)`` performs the
operation ``n`` times. Setups are given as ``"module:function"`` strings and imported lazily,
so a candidate whose framework is not installed is reported as skipped instead of breaking
the suite.

Per benchmark one asyncio loop runs everything: every candidate is set up, calibrated (ops
per round chosen so that a round lasts about ``round_seconds``) and warmed up; then each
round times every candidate once, rotating the order so no candidate always runs first or
right after the same neighbour. Timing uses ``time.perf_counter_ns``. The garbage collector
stays enabled during timing for every candidate (allocation-heavy code pays for its own
collections) unless ``Config.disable_gc`` is set, which disables it for every candidate;
either way ``gc.collect()`` runs before each timed run so no candidate inherits another's
garbage.

A latency benchmark (``Benchmark.latency``) has ``run(n)`` return the latency of each of its
``n`` operations in nanoseconds; the report then gives percentiles over every sample of every
round (p50, p99) instead of ns/op. A benchmark may also bound the configuration it runs with
(``Benchmark.adjust``: fixed ops, fewer rounds, no timed warm-up), which broker benchmarks need
because every operation consumes real records. Setups read that configuration with
:func:`current_config`, and raise :class:`Skip` to be reported as skipped with a reason
(a broker that does not answer) instead of failed.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import importlib
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field

Run = Callable[[int], Awaitable[None]] | Callable[[int], Awaitable[Sequence[float]]]
"""``await run(n)``: perform the measured operation ``n`` times (a latency benchmark's
``run`` returns the ``n`` latencies in nanoseconds)."""


class Skip(Exception):
    """Raised by a setup when its candidate cannot run here (reported as skipped)."""


Setup = Callable[[], AbstractAsyncContextManager[Run]]
"""Enter what a candidate needs (a started service, a broker...) and yield its ``run``."""


@dataclass(frozen=True)
class Candidate:
    """One way of doing the benchmark's operation.

    Attributes:
        name: Label in reports.
        setup: A :data:`Setup`, or ``"package.module:function"`` naming one (imported lazily).
        max_ratio: Target: the median may be at most this many times the baseline's.
        note: What exactly is measured, shown under the table.
        max_ns: Absolute target: the median ns/op (p50 for a latency benchmark) may be at
            most this.
        max_p99_ns: Absolute target of a latency benchmark: p99 at most this.
        max_added_ns: Target: the median may exceed the baseline's median by at most this
            many ns/op (what the candidate adds to the baseline's operation).
    """

    name: str
    setup: Setup | str
    max_ratio: float | None = None
    note: str = ""
    max_ns: float | None = None
    max_p99_ns: float | None = None
    max_added_ns: float | None = None

    def resolve(self) -> Setup:
        """The setup function (importing its module if it was given by name)."""
        if not isinstance(self.setup, str):
            return self.setup
        module_name, _, attr = self.setup.partition(":")
        setup: Setup = getattr(importlib.import_module(module_name), attr)
        return setup


@dataclass
class Benchmark:
    """A measured operation, its baseline candidate and the candidates compared to it.

    Attributes:
        name: Short name used by ``--only`` and in reports.
        title: One-line description.
        baseline: Name of the candidate every ratio is relative to.
        target: Human-readable statement of the benchmark's performance targets.
        candidates: Candidates in declaration order (the baseline among them).
        latency: ``run(n)`` returns per-operation latencies; report percentiles.
        adjust: Bounds the configuration this benchmark runs with (applied to the
            command line's).
        show_rate: Also report operations per second (throughput benchmarks).
    """

    name: str
    title: str
    baseline: str
    target: str = ""
    candidates: list[Candidate] = field(default_factory=list)
    latency: bool = False
    adjust: Callable[[Config], Config] | None = None
    show_rate: bool = False

    def add(
        self,
        name: str,
        setup: Setup | str,
        *,
        max_ratio: float | None = None,
        note: str = "",
        max_ns: float | None = None,
        max_p99_ns: float | None = None,
        max_added_ns: float | None = None,
    ) -> None:
        """Declare a candidate (see :class:`Candidate`)."""
        if any(c.name == name for c in self.candidates):
            raise ValueError(f"benchmark {self.name!r} already has a candidate {name!r}")
        self.candidates.append(
            Candidate(name, setup, max_ratio, note, max_ns, max_p99_ns, max_added_ns)
        )

    def config_for(self, config: Config) -> Config:
        """The configuration this benchmark runs with under ``config``."""
        return config if self.adjust is None else self.adjust(config)


@dataclass(frozen=True)
class Config:
    """How long and how often to measure.

    Attributes:
        rounds: Timed rounds; every round runs every candidate once.
        round_seconds: Calibration target for one candidate's timed run.
        warmup_seconds: Untimed running per candidate after calibration.
        ops: Fixed ops per round for every candidate (skips calibration) when set.
        max_ops: Upper bound for calibrated ops per round.
        disable_gc: Disable the garbage collector while timing (for every candidate).
        is_quick: Made by :meth:`quick` (benchmarks with an ``adjust`` shrink further).
    """

    rounds: int = 30
    round_seconds: float = 0.1
    warmup_seconds: float = 0.3
    ops: int | None = None
    max_ops: int = 2_000_000
    disable_gc: bool = False
    is_quick: bool = False

    @classmethod
    def quick(cls) -> Config:
        """Few rounds of short runs: a smoke test of every candidate in seconds."""
        return cls(rounds=5, round_seconds=0.02, warmup_seconds=0.03, is_quick=True)


@dataclass
class CandidateResult:
    """What one candidate measured.

    Attributes:
        name: Candidate name.
        ops: Operations per timed round.
        samples_ns: Nanoseconds per operation, one value per round (round order).
        max_ratio: The candidate's target, if any.
        note: The candidate's note.
        skipped: Why the candidate did not run (``None`` when it ran).
        target_ns: The candidate's absolute median (p50) target, if any.
        target_p99_ns: The candidate's absolute p99 target, if any.
        latencies_ns: Every latency of every timed round (latency benchmarks only); the
            per-round samples are then each round's p50.
        target_added_ns: The candidate's target of ns/op added to the baseline's, if any.
    """

    name: str
    ops: int = 0
    samples_ns: list[float] = field(default_factory=list)
    max_ratio: float | None = None
    note: str = ""
    skipped: str | None = None
    target_ns: float | None = None
    target_p99_ns: float | None = None
    latencies_ns: list[float] = field(default_factory=list)
    target_added_ns: float | None = None

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100) of all latencies (nearest rank)."""
        return percentile(self.latencies_ns, q)

    @property
    def median_ns(self) -> float:
        """Median ns/op across rounds."""
        return statistics.median(self.samples_ns)

    @property
    def min_ns(self) -> float:
        """Fastest round, ns/op."""
        return min(self.samples_ns)

    @property
    def max_ns(self) -> float:
        """Slowest round, ns/op."""
        return max(self.samples_ns)

    @property
    def iqr_ns(self) -> tuple[float, float]:
        """First and third quartile of ns/op across rounds."""
        if len(self.samples_ns) < 2:
            return self.samples_ns[0], self.samples_ns[0]
        q1, _, q3 = statistics.quantiles(self.samples_ns, n=4, method="inclusive")
        return q1, q3


@dataclass
class BenchmarkResult:
    """All candidates of one benchmark, measured in the same run.

    Attributes:
        benchmark: The benchmark.
        config: The configuration it ran with.
        candidates: Results in declaration order (skipped candidates included).
        seconds: Wall-clock duration of the whole benchmark.
    """

    benchmark: Benchmark
    config: Config
    candidates: list[CandidateResult]
    seconds: float = 0.0

    @property
    def baseline(self) -> CandidateResult | None:
        """The baseline's result, if it ran."""
        for result in self.candidates:
            if result.name == self.benchmark.baseline and result.skipped is None:
                return result
        return None

    def ratio(self, result: CandidateResult) -> float | None:
        """Median of ``result`` over median of the baseline (``None`` if either is missing)."""
        base = self.baseline
        if base is None or result.skipped is not None:
            return None
        return result.median_ns / base.median_ns

    def added_ns(self, result: CandidateResult) -> float | None:
        """Median of ``result`` minus median of the baseline (``None`` if either is missing)."""
        base = self.baseline
        if base is None or result.skipped is not None:
            return None
        return result.median_ns - base.median_ns

    def paired_ratios(self, result: CandidateResult) -> list[float]:
        """Per-round ratio to the baseline timed in the same round."""
        base = self.baseline
        if base is None or result.skipped is not None:
            return []
        return [c / b for c, b in zip(result.samples_ns, base.samples_ns, strict=True)]

    def target_met(self, result: CandidateResult) -> bool | None:
        """Whether every target of the candidate is met (``None``: no target or no result)."""
        if result.skipped is not None:
            return None
        verdicts: list[bool] = []
        if result.max_ratio is not None:
            ratio = self.ratio(result)
            if ratio is not None:
                verdicts.append(ratio <= result.max_ratio)
        if result.target_ns is not None:
            typical = result.percentile(50) if self.benchmark.latency else result.median_ns
            verdicts.append(typical <= result.target_ns)
        if result.target_p99_ns is not None and result.latencies_ns:
            verdicts.append(result.percentile(99) <= result.target_p99_ns)
        if result.target_added_ns is not None:
            added = self.added_ns(result)
            if added is not None:
                verdicts.append(added <= result.target_added_ns)
        return all(verdicts) if verdicts else None


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` by the nearest-rank method."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


_CONFIG: contextvars.ContextVar[Config] = contextvars.ContextVar("bench_config")


def current_config() -> Config:
    """The configuration of the benchmark being measured (for setups sizing their data)."""
    return _CONFIG.get()


def measure(benchmark: Benchmark, config: Config) -> BenchmarkResult:
    """Run ``benchmark`` in a fresh asyncio loop and return its results."""
    started = time.perf_counter()
    config = benchmark.config_for(config)
    results = asyncio.run(_measure(benchmark, config))
    return BenchmarkResult(benchmark, config, results, time.perf_counter() - started)


async def _measure(benchmark: Benchmark, config: Config) -> list[CandidateResult]:
    _CONFIG.set(config)
    results = {
        c.name: CandidateResult(
            c.name,
            max_ratio=c.max_ratio,
            note=c.note,
            target_ns=c.max_ns,
            target_p99_ns=c.max_p99_ns,
            target_added_ns=c.max_added_ns,
        )
        for c in benchmark.candidates
    }
    async with AsyncExitStack() as stack:
        runs: dict[str, Run] = {}
        for candidate in benchmark.candidates:
            result = results[candidate.name]
            try:
                run = await stack.enter_async_context(candidate.resolve()())
                result.ops = config.ops or await _calibrate(run, config)
                await _warm_up(run, result.ops, config.warmup_seconds)
            except ImportError as exc:
                result.skipped = f"not installed ({exc.name or exc})"
            except Skip as exc:
                result.skipped = f"not run: {exc}"
            except Exception as exc:
                result.skipped = f"setup failed: {type(exc).__name__}: {exc}"
            else:
                runs[candidate.name] = run
            if result.skipped is not None:
                _progress(f"  {candidate.name}: skipped, {result.skipped}")
        order = list(runs)
        for round_no in range(config.rounds):
            shift = round_no % len(order) if order else 0
            for name in order[shift:] + order[:shift]:
                result = results[name]
                elapsed, latencies = await _timed(runs[name], result.ops, config.disable_gc)
                if benchmark.latency:
                    if not latencies:
                        raise RuntimeError(f"{name}: a latency run returned no latencies")
                    result.latencies_ns.extend(latencies)
                    result.samples_ns.append(percentile(latencies, 50))
                else:
                    result.samples_ns.append(elapsed / result.ops)
            _status(f"  round {round_no + 1}/{config.rounds}")
        _status("")
    return list(results.values())


async def _calibrate(run: Run, config: Config) -> int:
    """Ops per round so that one timed run lasts about ``config.round_seconds``."""
    goal_ns = config.round_seconds * 1e9
    n = 1
    while True:
        elapsed, _ = await _timed(run, n, disable_gc=False, collect=False)
        if elapsed >= goal_ns / 10 or n >= config.max_ops:
            break
        n *= 4 if elapsed < goal_ns / 100 else 2
    # The fastest of a few runs: one slow outlier (a GC pass, a preempted core) would
    # otherwise shrink every round of this candidate.
    for _ in range(3):
        elapsed = min(elapsed, (await _timed(run, n, disable_gc=False, collect=False))[0])
    per_op = max(elapsed, 1) / n
    return max(1, min(config.max_ops, round(goal_ns / per_op)))


async def _warm_up(run: Run, ops: int, seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    await run(ops)
    while time.perf_counter() < deadline:
        await run(ops)


async def _timed(
    run: Run, ops: int, disable_gc: bool, collect: bool = True
) -> tuple[int, Sequence[float] | None]:
    if collect:
        gc.collect()
    if disable_gc:
        gc.disable()
    try:
        start = time.perf_counter_ns()
        latencies = await run(ops)
        return time.perf_counter_ns() - start, latencies
    finally:
        if disable_gc:
            gc.enable()


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _status(text: str) -> None:
    """An overwritable status line, on a terminal only."""
    if sys.stderr.isatty():
        print(f"\r{text:<40}", end="" if text else "\r", file=sys.stderr, flush=True)
