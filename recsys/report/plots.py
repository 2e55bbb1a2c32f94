"""Leaderboard plots from the results store: metric by model with 95% bootstrap intervals over
users (seed-averaged per-user values), and training time against accuracy. PNG files (Agg)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys.bench.store import ResultsStore
from recsys.eval.stats import bootstrap_ci
from recsys.report.leaderboard import metric_value, user_means


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _file_safe(metric: str) -> str:
    return metric.replace("@", "_at_").replace("/", "-").replace("|", "-").replace(":", "-")


def metric_plot(store: ResultsStore, board: pl.DataFrame, dataset: str, metric: str, out: Path) -> Path:
    plt = _plt()
    rows = board.filter((pl.col("dataset") == dataset) & (pl.col("metric") == metric)).sort("mean")
    means, lows, highs = [], [], []
    for r in rows.iter_rows(named=True):
        vec = user_means(store, r["run_ids"].split(","), metric)[metric].to_numpy()
        lo, hi = bootstrap_ci(vec, n_boot=500)
        means.append(r["mean"])
        lows.append(r["mean"] - lo)
        highs.append(hi - r["mean"])
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(rows)))
    colors = ["#c0392b" if s else "#2c3e50" for s in rows["significant"].to_list()]
    ax.barh(rows["model"].to_list(), means, xerr=[lows, highs], color=colors, alpha=0.85, capsize=3)
    ax.set_xlabel(f"{metric} (mean over seeds; bars: 95% bootstrap CI over users)")
    ax.set_title(f"{dataset}: {metric}  (red: differs from the baseline)")
    fig.tight_layout()
    path = out / f"{dataset}-{_file_safe(metric)}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def time_accuracy_plot(store: ResultsStore, dataset: str, metric: str, out: Path, suite: str | None) -> Path:
    plt = _plt()
    recs = [r for r in store.records() if r["dataset"] == dataset and r["status"] == "ok"
            and (suite is None or r.get("suite") == suite)]
    fig, ax = plt.subplots(figsize=(6, 4))
    for label in sorted({r["label"] for r in recs}):
        rs = [r for r in recs if r["label"] == label]
        ax.scatter([r["wall_seconds"] for r in rs], [metric_value(r, metric) for r in rs], label=label)
    ax.set_xscale("log")
    ax.set_xlabel("wall time per run (s, log scale)")
    ax.set_ylabel(metric)
    ax.set_title(f"{dataset}: time vs {metric} (one point per seed)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / f"{dataset}-time-vs-{_file_safe(metric)}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
