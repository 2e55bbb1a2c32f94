"""The leaderboard of a suite: mean ± std over seeds, and significance against the suite's baseline.

Every number comes from the results store. Significance: for each (dataset, model, metric),
the model's per-user metric (averaged over its seeds) is compared with the baseline's on the
same users by a Wilcoxon signed-rank test (or a paired t-test); p-values are Holm-corrected
over all comparisons of a dataset; ``significant`` means corrected p < alpha.

A metric may name the test split it is read from: ``test_ood/ndcg@20`` is NDCG@20 on the
``test_ood`` split (IID and OOD side by side); a plain ``ndcg@20`` reads ``test``.

CTR metrics (``auc``, ``logloss``, ``gauc``, optionally per group: ``auc|scenario:drama``) are
tested on per-sample predictions averaged over seeds: AUC with DeLong's paired test, LogLoss with
the paired t-test on per-sample losses (LogLoss is their mean), GAUC with the signed-rank test on
per-user AUCs. LogLoss is lower-is-better.
The baseline may differ per model (``{model: baseline}``, e.g. GPRec (DeepFM) vs DeepFM).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from recsys.bench.fairness import record_converged, record_loss_family
from recsys.bench.store import ResultsStore, record_suites
from recsys.eval.ctr import CTR_METRICS, LOWER_IS_BETTER, user_aucs
from recsys.eval.groups import split_group_metric
from recsys.eval.stats import delong, holm, paired_t, wilcoxon

COLUMNS = ["dataset", "model", "metric", "mean", "std", "seeds", "baseline", "p_value", "significant",
           "p_raw", "effect_size", "test", "loss_family", "unconverged", "trials", "tuned", "run_ids"]
#: a cell with fewer seeds shows its n and no ± (docs/fair-comparisons.md)
MIN_SEEDS = 3
DEFAULT_METRICS = ("ndcg@10", "recall@10", "mrr@10")
def base_metric(metric: str) -> str:
    """``"test_ood/ndcg@20"`` -> ``"ndcg@20"``; ``"auc|scenario:drama"`` -> ``"auc"``."""
    return split_group_metric(split_phase(metric)[1])[0]


def lower_is_better(metric: str) -> bool:
    return base_metric(metric) in LOWER_IS_BETTER


def _group_frames(store: ResultsStore, run_ids: list[str], metric: str, phase: str) -> list[pl.DataFrame]:
    """Each run's per-user (or per-sample) frame of the metric's split, cut to its group if it names one."""
    phase, name = split_phase(metric, phase)
    _, column, label = split_group_metric(name)
    frames = []
    for r in run_ids:
        frame = store.per_user(r, phase)
        if column is not None:
            if column not in frame.columns:
                raise KeyError(f"run {r} has no per-user {column!r} labels (group metric {metric!r}); "
                               "it was evaluated before group metrics existed: run it again")
            frame = frame.filter(pl.col(column) == label)
        frames.append(frame)
    return frames


def sample_means(store: ResultsStore, run_ids: list[str], metric: str, phase: str = "test") -> pl.DataFrame:
    """Per-sample label, prediction and loss averaged over seeds (a group metric keeps its group's samples)."""
    frames = [f.select("row", "user_idx", "label", "prediction", "logloss")
              for f in _group_frames(store, run_ids, metric, phase)]
    return (pl.concat(frames).group_by("row").agg(pl.col("user_idx").first(), pl.col("label").first(),
                                                  pl.col("prediction").mean(), pl.col("logloss").mean())
            .sort("row"))


def _user_aucs(frame: pl.DataFrame, pred: str) -> pl.DataFrame:
    users, values, _ = user_aucs(frame["user_idx"].to_numpy(), frame["label"].to_numpy(), frame[pred].to_numpy())
    return pl.DataFrame({"user_idx": users, "auc": values}, schema={"user_idx": pl.Int64, "auc": pl.Float64})


def ctr_test(store: ResultsStore, mine: list[str], theirs: list[str], metric: str, phase: str = "test"):
    """The paired test of a CTR metric between two models (seed-averaged predictions on the same samples)."""
    a, b = sample_means(store, mine, metric, phase), sample_means(store, theirs, metric, phase)
    both = a.join(b, on="row", suffix="_b")
    base = base_metric(metric)
    if base == "auc":
        return delong(both["label"].to_numpy(), both["prediction"].to_numpy(), both["prediction_b"].to_numpy())
    if base == "logloss":  # LogLoss is a mean: test the mean per-sample difference (signed ranks would test medians)
        return paired_t(both["logloss"].to_numpy(), both["logloss_b"].to_numpy())
    ua, ub = _user_aucs(both, "prediction"), _user_aucs(both, "prediction_b")
    joined = ua.join(ub, on="user_idx", suffix="_b")
    return wilcoxon(joined["auc"].to_numpy(), joined["auc_b"].to_numpy())


def split_phase(metric: str, default: str = "test") -> tuple[str, str]:
    """``"test_ood/ndcg@20"`` -> ``("test_ood", "ndcg@20")``; ``"ndcg@20"`` -> ``(default, "ndcg@20")``."""
    phase, sep, name = metric.rpartition("/")
    return (phase, name) if sep else (default, metric)


def metric_value(record: dict, metric: str, phase: str = "test") -> float | None:
    """A run's summary value of a (possibly split-qualified) metric; None where the run lacks it."""
    phase, name = split_phase(metric, phase)
    return record["test"].get(phase, {}).get(name)


def user_means(store: ResultsStore, run_ids: list[str], metric: str, phase: str = "test") -> pl.DataFrame:
    """Per-user metric averaged over seeds; a group metric (``ndcg@10|item:tail``) keeps that group's users."""
    base = base_metric(metric)
    frames = [f.select("user_idx", pl.col(base).alias(metric)) for f in _group_frames(store, run_ids, metric, phase)]
    return pl.concat(frames).group_by("user_idx").agg(pl.col(metric).mean()).sort("user_idx")


def check_options(records: list[dict], baseline, metrics, alpha, phase: str = "test") -> None:
    """Options that would silently give a wrong table are errors naming the option and what it accepts."""
    import difflib

    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"--alpha {alpha}: expected a significance level in (0, 1), e.g. 0.05")
    if not metrics:
        raise ValueError("--metrics: no metric given; e.g. --metrics ndcg@10,recall@10")
    labels = sorted({r.get("label", r["model"]) for r in records})
    if isinstance(baseline, str) and baseline not in labels:
        close = difflib.get_close_matches(baseline, labels, n=2)
        raise ValueError(f"--baseline {baseline!r} is not a model of these runs"
                         + (f"; did you mean {', '.join(close)}?" if close else "") + f" (models: {', '.join(labels)})")
    have = sorted({f"{ph}/{m}" if ph != phase else m for r in records for ph, ms in r["test"].items() for m in ms})
    for metric in metrics:
        if not any(metric_value(r, metric, phase) is not None for r in records):
            close = difflib.get_close_matches(base_metric(metric), have, n=3)
            raise ValueError(f"--metrics: {metric!r} is in no run" + (f"; did you mean {', '.join(close)}?" if close
                                                                    else "") + f" (runs have: {', '.join(have[:12])}"
                             + (" ..." if len(have) > 12 else "") + ")")


def baseline_label(baseline: str | dict | None, label: str, entry: str, runs: dict[str, list[dict]]) -> str | None:
    """The row label of a row's baseline, or None. A suite names entries (``HNLMRec``, its ``baseline``), a
    row is labelled with its LLM backend (``HNLMRec (contrast-text fallback)``): both are mapped through the
    runs' entry names (a record's ``model``), so a labelled row still gets its significance test."""
    base = baseline.get(label, baseline.get(entry)) if isinstance(baseline, dict) else baseline
    if base is None or base in runs:
        return base
    labels = {r.get("label", r["model"]) for rs in runs.values() for r in rs if r["model"] == base}
    return labels.pop() if len(labels) == 1 else None


def leaderboard(store: ResultsStore, suite: str | None = None, baseline: str | dict | None = None,
                metrics=DEFAULT_METRICS, phase: str = "test", test: str = "wilcoxon",
                alpha: float = 0.05) -> pl.DataFrame:
    records = [r for r in store.records() if r["status"] == "ok" and (suite is None or suite in record_suites(r))]
    if not records:
        raise ValueError(f"no finished runs{f' of suite {suite!r}' if suite else ''} in {store.root}")
    check_options(records, baseline, metrics, alpha, phase)
    tester = {"wilcoxon": wilcoxon, "paired-t": paired_t}[test]
    rows = []
    for dataset in sorted({r["dataset"] for r in records}):
        runs: dict[str, list[dict]] = {}
        for r in records:
            if r["dataset"] == dataset:
                runs.setdefault(r.get("label", r["model"]), []).append(r)
        ds_rows = []
        # a group metric exists only where the dataset has that group (a domain, a history length)
        present = [m for m in metrics if all(metric_value(r, m, phase) is not None for rs in runs.values() for r in rs)]
        for label, rs in sorted(runs.items()):
            ids = [r["run_id"] for r in sorted(rs, key=lambda r: r["seed"])]
            base = baseline_label(baseline, label, rs[0]["model"], runs)
            families = sorted({record_loss_family(r) for r in rs})
            tuning = rs[0].get("tuning") or {}
            for metric in present:
                values = np.array([metric_value(r, metric, phase) for r in rs])
                row = {"dataset": dataset, "model": label, "metric": metric, "mean": float(values.mean()),
                       "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0, "seeds": len(values),
                       "baseline": base, "p_value": None, "significant": False, "p_raw": None,
                       "effect_size": None, "test": None, "loss_family": "+".join(families),
                       "unconverged": sum(not record_converged(r) for r in rs),
                       "trials": int(tuning.get("trials", 0)),
                       "tuned": json.dumps(tuning.get("params", {}), sort_keys=True) if tuning else "",
                       "run_ids": ",".join(ids)}
                if base is not None and label != base and base_metric(metric) in CTR_METRICS:
                    res = ctr_test(store, ids, [r["run_id"] for r in runs[base]], metric, phase)
                    row.update(p_raw=res.p_value, effect_size=res.effect_size, test=res.test)
                elif base is not None and label != base:
                    mine = user_means(store, ids, metric, phase)
                    theirs = user_means(store, [r["run_id"] for r in runs[base]], metric, phase)
                    both = mine.join(theirs, on="user_idx", suffix="_b")
                    res = tester(both[metric].to_numpy(), both[f"{metric}_b"].to_numpy())
                    row.update(p_raw=res.p_value, effect_size=res.effect_size, test=res.test)
                ds_rows.append(row)
        tested = [i for i, r in enumerate(ds_rows) if r["p_raw"] is not None]
        for i, p in zip(tested, holm([ds_rows[i]["p_raw"] for i in tested])):
            ds_rows[i]["p_value"] = float(p)
            ds_rows[i]["significant"] = bool(p < alpha)
        rows += ds_rows
    return pl.DataFrame(rows, schema_overrides={"p_value": pl.Float64, "p_raw": pl.Float64,
                                                "effect_size": pl.Float64, "baseline": pl.String,
                                                "test": pl.String, "tuned": pl.String}).select(COLUMNS)


def md_cell(text: str) -> str:
    """A Markdown table cell: ``|`` (group metrics: ``ndcg@10|item:tail``) escaped so the row keeps its columns."""
    return str(text).replace("|", "\\|")


def cell_text(row: dict, fmt: str = "{mean:.4f} ± {std:.4f}") -> str:
    """mean ± std over seeds; with fewer than ``MIN_SEEDS`` seeds, the mean and its n (no ±: one seed
    has no spread to show, two barely do)."""
    if row["seeds"] < MIN_SEEDS:
        return f"{row['mean']:.4f} (n={row['seeds']})"
    return fmt.format(mean=row["mean"], std=row["std"])


def row_marks(b: pl.DataFrame, model: str) -> str:
    """⚠ where a run of the row stopped at its cap still improving; ‡ where the row's loss family is not
    its baseline's (the comparison mixes objectives)."""
    first = b.filter(pl.col("model") == model).row(0, named=True)
    marks = ""
    if first.get("unconverged"):
        marks += " ⚠"
    base = first.get("baseline")
    if base and base != model:
        theirs = b.filter(pl.col("model") == base)
        if len(theirs) and theirs["loss_family"][0] != first.get("loss_family"):
            marks += " ‡"
    return marks


def legend(b: pl.DataFrame) -> list[str]:
    """The footnotes a dataset's table needs: what n, ⚠ and ‡ mean, where they occur."""
    lines = []
    if (b["seeds"] < MIN_SEEDS).any():
        lines.append(f"(n=k): only k seeds (fewer than {MIN_SEEDS}); no spread is shown.")
    if (b["unconverged"] > 0).any():
        lines.append("⚠ not converged: a run's best epoch was within its last `patience` epochs at its cap "
                     "(raise max_epochs).")
    if any(row_marks(b, m).endswith("‡") for m in set(b["model"].to_list())):
        lines.append("‡ trained under another loss family than its baseline (column `loss`): not like for like.")
    if (b["trials"] > 0).any():
        lines.append("trials: the tuning budget of the row (validation only); tuned values in the CSV's `tuned`.")
    return lines


def dataset_view(board: pl.DataFrame, dataset: str, metrics: list[str]) -> tuple[pl.DataFrame, dict, list[str]]:
    """A dataset's rows, the best mean per metric it has (``best``'s keys, in ``metrics`` order), and its
    models ordered by the first metric."""
    b = board.filter(pl.col("dataset") == dataset)
    have = set(b["metric"].to_list())
    best = {m: (b.filter(pl.col("metric") == m)["mean"].min() if lower_is_better(m) else
                b.filter(pl.col("metric") == m)["mean"].max()) for m in metrics if m in have}
    first = next(iter(best))
    models = b.filter(pl.col("metric") == first).sort("mean", descending=not lower_is_better(first))["model"].to_list()
    return b, best, models


def markdown(board: pl.DataFrame, alpha: float = 0.05) -> str:
    """One table per dataset: mean ± std, best in bold, † where significantly different from the baseline."""
    out = []
    metrics = list(dict.fromkeys(board["metric"].to_list()))
    for dataset in sorted(set(board["dataset"].to_list())):
        b, best, models = dataset_view(board, dataset, metrics)
        ds_metrics = list(best)
        bases = sorted(set(b["baseline"].drop_nulls().to_list()))
        base = bases[0] if len(bases) == 1 else None
        own = {r["model"]: r["baseline"] for r in b.iter_rows(named=True) if r["baseline"]}
        out.append(f"### {dataset}\n")
        out.append("| model | loss | seeds | trials | " + " | ".join(md_cell(m) for m in ds_metrics) + " |")
        out.append("|---|---|---|---|" + "---|" * len(ds_metrics))
        for model in models:
            cells = []
            for m in ds_metrics:
                r = b.filter((pl.col("model") == model) & (pl.col("metric") == m)).row(0, named=True)
                text = cell_text(r)
                if r["mean"] == best[m]:
                    text = f"**{text}**"
                if r["significant"]:
                    text += " †"
                cells.append(text)
            first = b.filter(pl.col("model") == model).row(0, named=True)
            name = f"{model} (baseline)" if model == base or (model in bases and model not in own) else model
            if len(bases) > 1 and model in own and own[model] != model:
                name += f" (vs {own[model]})"
            name += row_marks(b, model)
            out.append(f"| {md_cell(name)} | {first['loss_family']} | {first['seeds']} | {first['trials'] or '-'} | "
                       + " | ".join(cells) + " |")
        if bases:
            tests = sorted(set(b["test"].drop_nulls().to_list()))
            how = {"wilcoxon": "Wilcoxon signed-rank on per-user values", "delong": "DeLong on AUC",
                   "paired-t": "paired t-test (per-sample LogLoss)"}
            against = base if base else "each model's own baseline"
            out.append(f"\n† differs from {against} ({'; '.join(how.get(t, t) for t in tests) or 'Wilcoxon'}, "
                       f"Holm-corrected p < {alpha}).\n")
        notes = legend(b)
        if notes:
            out.append(("" if bases else "\n") + "\n".join(notes) + "\n")
    return "\n".join(out)


def recompute_check(store: ResultsStore, csv: str | Path) -> list[str]:
    """Recompute every cell of a leaderboard CSV from its runs; returns the differences (none = consistent)."""
    board = pl.read_csv(csv, glob=False)
    problems = []
    by_id = {r["run_id"]: r for r in store.records()}
    for row in board.iter_rows(named=True):
        ids = row["run_ids"].split(",")
        missing = [i for i in ids if i not in by_id]
        if missing:
            problems.append(f"{row['dataset']}/{row['model']}/{row['metric']}: runs not in the store: {missing}")
            continue
        mean = float(np.mean([metric_value(by_id[i], row["metric"]) for i in ids]))
        if abs(mean - row["mean"]) > 1e-12:
            problems.append(f"{row['dataset']}/{row['model']}/{row['metric']}: {row['mean']} != {mean}")
    return problems


def latex(board: pl.DataFrame) -> str:
    """One ``tabular`` per dataset (booktabs): mean ± std, best in bold, $^\\dagger$ where significant."""
    out = []
    metrics = list(dict.fromkeys(board["metric"].to_list()))
    esc = lambda t: str(t).replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")  # noqa: E731
    for dataset in sorted(set(board["dataset"].to_list())):
        b, best, models = dataset_view(board, dataset, metrics)
        ds_metrics = list(best)
        out.append(f"% {esc(dataset)}\n\\begin{{tabular}}{{l{'c' * len(ds_metrics)}}}\n\\toprule")
        out.append("Model & " + " & ".join(esc(m) for m in ds_metrics) + r" \\ \midrule")
        for model in models:
            cells = []
            for m in ds_metrics:
                r = b.filter((pl.col("model") == model) & (pl.col("metric") == m)).row(0, named=True)
                v = cell_text(r, "{mean:.4f} $\\pm$ {std:.4f}")
                v = f"\\textbf{{{v}}}" if r["mean"] == best[m] else v
                cells.append(v + ("$^\\dagger$" if r["significant"] else ""))
            out.append(esc(model + row_marks(b, model)) + " & " + " & ".join(cells) + r" \\")
        out.append("\\bottomrule\n\\end{tabular}\n")
    return "\n".join(out)
