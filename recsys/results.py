"""Results for notebooks: ``recsys.results.load(path)`` gives a polars DataFrame."""

from recsys.bench.store import ResultsStore, load

__all__ = ["ResultsStore", "load"]
