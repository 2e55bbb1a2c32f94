"""Benchmarks: suites of models x datasets x seeds, the runner, and the results store."""
