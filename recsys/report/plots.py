"""Leaderboard plots from the results store: metric by model with 95% bootstrap intervals over
users (seed-averaged per-user values; for CTR metrics, over samples of the seed-averaged
predictions), and training time against accuracy. PNG files (Agg)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys.bench.store import ResultsStore, record_suites
from recsys.eval.ctr import CTR_METRICS
from recsys.eval.stats import bootstrap_ci
from recsys.io.safe_write import atomic_write
from recsys.report.leaderboard import (
    base_metric,
    metric_value,
    sample_means,
    user_means,
)


def _ctr_interval(store: ResultsStore, run_ids: list[str], metric: str, n_boot: int = 200) -> tuple[float, float]:
    """Percentile bootstrap over samples of AUC or mean LogLoss (GAUC: no interval)."""
    import numpy as np

    from recsys.eval.ctr import auc

    base = base_metric(metric)
    frame = sample_means(store, run_ids, metric)
    if base == "logloss":
        return bootstrap_ci(frame["logloss"].to_numpy(), n_boot=n_boot)
    y, p = frame["label"].to_numpy(), frame["prediction"].to_numpy()
    if base != "auc":
        v = float("nan")
        return v, v
    rng = np.random.default_rng(0)
    boots = [auc(y[i], p[i]) for i in (rng.integers(0, len(y), len(y)) for _ in range(n_boot))]
    lo, hi = np.nanquantile(boots, [0.025, 0.975])
    return float(lo), float(hi)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["text.parse_math"] = False  # a '$' in a model label is text, not mathtext
    import matplotlib.pyplot as plt

    return plt


def _file_safe(metric: str) -> str:
    return metric.replace("@", "_at_").replace("/", "-").replace("|", "-").replace(":", "-")


def metric_plot(store: ResultsStore, board: pl.DataFrame, dataset: str, metric: str, out: Path) -> Path:
    plt = _plt()
    rows = board.filter((pl.col("dataset") == dataset) & (pl.col("metric") == metric)).sort("mean")
    means, lows, highs = [], [], []
    for r in rows.iter_rows(named=True):
        if base_metric(metric) in CTR_METRICS:
            lo, hi = _ctr_interval(store, r["run_ids"].split(","), metric)
            lo, hi = (r["mean"], r["mean"]) if lo != lo else (lo, hi)  # GAUC: no interval drawn
        else:
            vec = user_means(store, r["run_ids"].split(","), metric)[metric].to_numpy()
            lo, hi = bootstrap_ci(vec, n_boot=500)
        means.append(r["mean"])
        lows.append(max(r["mean"] - lo, 0.0))
        highs.append(max(hi - r["mean"], 0.0))
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(rows)))
    colors = ["#c0392b" if s else "#2c3e50" for s in rows["significant"].to_list()]
    ax.barh(rows["model"].to_list(), means, xerr=[lows, highs], color=colors, alpha=0.85, capsize=3)
    ctr = base_metric(metric) in CTR_METRICS
    ax.set_xlabel(f"{metric} (mean over seeds; bars: 95% bootstrap CI over {'samples' if ctr else 'users'})")
    if ctr and means:  # AUCs differ in the third decimal: start the axis near the values
        ax.set_xlim(min(m - lo for m, lo in zip(means, lows)) * 0.98, max(m + hi for m, hi in zip(means, highs)) * 1.01)
    ax.set_title(f"{dataset}: {metric}  (red: differs from the baseline)")
    fig.tight_layout()
    path = out / f"{dataset}-{_file_safe(metric)}.png"
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
    return path


def time_accuracy_plot(store: ResultsStore, dataset: str, metric: str, out: Path, suite: str | None) -> Path:
    plt = _plt()
    recs = [r for r in store.records() if r["dataset"] == dataset and r["status"] == "ok"
            and (suite is None or suite in record_suites(r))]
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
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
    return path
