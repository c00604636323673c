"""momentum's benchmark suite: ``bench/run`` (or ``python -m bench`` in ``bench/.venv``).

Benchmarks are modules under :mod:`bench.cases`, each defining ``BENCHMARK``; the code a
candidate runs lives in :mod:`bench.subjects`. See :mod:`bench.framework` for how
candidates are measured.
"""
