"""Leaderboard tables: mean ± std over seeds per model and dataset, as markdown."""

from __future__ import annotations

import polars as pl

DEFAULT_METRICS = ("ndcg@10", "recall@10", "mrr@10")


def summary_table(df: pl.DataFrame, metrics=DEFAULT_METRICS, phase: str = "test") -> pl.DataFrame:
    ok = df.filter((pl.col("status") == "ok") & (pl.col("phase") == phase))
    aggs = [pl.len().alias("seeds")]
    for m in metrics:
        aggs += [pl.col(m).mean().alias(f"{m} mean"), pl.col(m).std().alias(f"{m} std")]
    aggs.append(pl.col("wall_seconds").mean().alias("seconds"))
    return ok.group_by("dataset", "label").agg(aggs).sort(["dataset", f"{metrics[0]} mean"],
                                                         descending=[False, True])


def markdown_table(df: pl.DataFrame, metrics=None, phase: str = "test") -> str:
    """Mean ± std per (dataset, model); default columns: ranking metrics, or AUC / LogLoss / GAUC for CTR runs."""
    if metrics is None:
        metrics = DEFAULT_METRICS if any(m in df.columns for m in DEFAULT_METRICS) or "auc" not in df.columns \
            else ("auc", "logloss", "gauc")
    failed = df.filter(pl.col("status") != "ok") if "status" in df.columns else df.clear()
    metrics = [m for m in metrics if m in df.columns]
    if not metrics or not len(df.filter(pl.col("status") == "ok")):
        lines = ["no finished runs"]
        lines += [f"failed: {r['label']} seed {r['seed']}: {r['error']}" for r in failed.iter_rows(named=True)]
        return "\n".join(lines)
    t = summary_table(df, metrics, phase)
    head = "| dataset | model | seeds | " + " | ".join(m.upper().replace("|", "\\|") for m in metrics) + " | time (s) |"
    lines = [head, "|" + "---|" * (len(metrics) + 4)]
    for r in t.iter_rows(named=True):
        cells = []
        for m in metrics:
            std = r[f"{m} std"]
            cells.append(f"{r[f'{m} mean']:.4f} ± {std:.4f}" if std is not None else f"{r[f'{m} mean']:.4f}")
        lines.append(f"| {r['dataset']} | {str(r['label']).replace('|', chr(92) + '|')} | {r['seeds']} | " + " | ".join(cells) +
                     f" | {r['seconds']:.1f} |")
    if len(failed):
        lines.append("")
        lines += [f"failed: {r['label']} seed {r['seed']}: {r['error']}" for r in failed.iter_rows(named=True)]
    return "\n".join(lines)
