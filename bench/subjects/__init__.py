"""What the benchmarks' candidates run, one module per framework and benchmark.

Each module imports its framework at the top, so importing it fails (and the candidate is
reported as skipped) when that framework is not installed.
"""
