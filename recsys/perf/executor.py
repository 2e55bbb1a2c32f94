"""Wall time of one suite run with different executors, side by side, on the same machine.

Each configuration runs the whole suite into its own fresh results store (nothing is skipped),
after one untimed preparation of the suite's datasets, so the figures differ only by how the
cells were spread. It also reports the largest metric difference between the configurations.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from recsys.bench.executors import make_executor
from recsys.bench.runner import run_suite
from recsys.bench.store import ResultsStore
from recsys.bench.suite import load_suite
from recsys.data.prepare import prepare

METRICS = ("ndcg@10", "recall@10", "auc", "logloss")


def compare_jobs(suite_name: str, jobs: list[int], data_dir: str | None = None, echo=lambda *_: None) -> dict:
    suite = load_suite(suite_name)
    for name in suite.datasets:  # cached once, outside the timings
        prepare(name, data_dir, progress=False)
    out, metrics = {"suite": suite.name, "cells": len(list(suite.cells())), "runs": []}, {}
    with tempfile.TemporaryDirectory(prefix="recsys-perf-executor-") as tmp:
        for n in jobs:
            store = ResultsStore(Path(tmp) / f"jobs{n}")
            t0 = time.perf_counter()
            records = run_suite(suite, store, data_dir, progress=False, echo=echo, executor=make_executor("local", n))
            wall = time.perf_counter() - t0
            failed = sum(r["status"] != "ok" for r in records)
            metrics[n] = {(r["model"], r["dataset"], r["seed"]): r["test"].get("test", {}) for r in records}
            out["runs"].append({"jobs": n, "wall_seconds": wall, "failed": failed,
                                "cpu_seconds_in_cells": sum(r["wall_seconds"] for r in records)})
    base = out["runs"][0]
    for run in out["runs"]:
        run["speedup"] = base["wall_seconds"] / run["wall_seconds"]
    first = metrics[jobs[0]]
    out["max_metric_difference"] = max(
        (abs(m[key][k] - first[key][k]) for m in metrics.values() for key in first if key in m
         for k in METRICS if k in first[key] and k in m[key]), default=0.0)
    return out
