"""Periodic updates of one model: retrain, keep the latest fine-tune, or merge the period fine-tunes.

The training interactions are cut into ``periods`` by time (global quantiles of the timestamps).
``theta_0`` is trained from scratch on the first period; each later period fine-tunes a copy of
``theta_0`` on that period's interactions only (sequences made of the period's items; evaluation
inputs are always every known interaction). Strategies, each one suite entry:

- ``retrain``: the model trained from scratch on all training interactions (the usual run);
- ``latest``: the last period's fine-tune;
- ``base``: theta_0 itself, never updated (how much the updates bring at all);
- a merge method (``recsys.merging.methods``) over the period fine-tunes, relative to ``theta_0``.

Validation (early stopping of every training, Hi-Merging's contribution analysis) is the valid
split; the reported figures are the test split's. ``theta_0`` and the fine-tunes of one (dataset,
backbone configuration, periods, seed) are trained once and kept under
``<cache>/checkpoints/periodic/``: every strategy of a seed merges the same checkpoints.
"""

from __future__ import annotations

import time

import numpy as np
import polars as pl
import torch

from recsys.data import schema as S
from recsys.data.prepare import PreparedDataset
from recsys.data.tensors import DatasetTensors, Ragged, TrainingView, ragged
from recsys.io.paths import cache_dir
from recsys.merging.methods import MERGE_METHODS, MergeError, check_compatible, merge

STRATEGIES = ("retrain", "latest", "base", *MERGE_METHODS)
#: suite-entry keys read here (the rest configures the backbone)
PERIODIC_KEYS = ("model", "backbone", "method", "periods", "finetune_epochs", "finetune_learning_rate",
                 "merge_scale", "merge_density", "merge_drop", "merge_then", "merge_alpha", "merge_decay")


class PeriodTensors(TrainingView):
    """Training sequences of one period's interactions; every evaluation input (validation history
    included) stays the full data."""

    def __init__(self, base: DatasetTensors, train: Ragged, period: int):
        super().__init__(base, train)
        self.period = period


def split_periods(tensors: DatasetTensors, periods: int) -> list[PeriodTensors]:
    """The training interactions cut at the time quantiles 1/P, 2/P, ...; each period's own sequences."""
    if periods < 2:
        raise MergeError(f"periods must be >= 2 (a base period and at least one fine-tune), got {periods}")
    frame = tensors.train_frame
    if S.TIME not in frame.columns or frame[S.TIME].null_count():
        raise MergeError(f"{tensors.ds.name}: periods need a timestamp on every training interaction",)
    times = frame[S.TIME].to_numpy()
    cuts = np.quantile(times, [p / periods for p in range(1, periods)], method="lower")
    period = np.searchsorted(cuts, times, side="left")  # a timestamp equal to a cut closes that period
    frame = frame.with_columns(pl.Series("period", period))
    parts = []
    for p in range(periods):
        rows = frame.filter(pl.col("period") == p)
        if rows.is_empty():
            raise MergeError(f"{tensors.ds.name}: period {p + 1} of {periods} has no interaction (timestamps too "
                             "coarse); use fewer periods")
        parts.append(PeriodTensors(tensors, ragged(rows.drop("period"), tensors.n_users), p + 1))
    return parts


def item_rows(state: dict, part: PeriodTensors) -> dict:
    """For each item-indexed embedding table (n_items + 1 rows): the rows of the items in this period."""
    seen = torch.zeros(part.n_items + 1, dtype=torch.bool)
    seen[torch.from_numpy(part.train.items)] = True
    return {k: seen for k, v in state.items() if v.dim() == 2 and "embedding" in k.lower() and len(v) == len(seen)}


def _split_config(overrides: dict) -> tuple[str, dict, dict, dict]:
    backbone = overrides.get("backbone")
    if not backbone:
        raise MergeError('a merging entry names its model as backbone = "SASRec" (any trainable model)')
    cfg = {k: v for k, v in overrides.items() if k not in PERIODIC_KEYS}
    ft = dict(cfg)
    for key, target in (("finetune_epochs", "epochs"), ("finetune_learning_rate", "learning_rate")):
        if key in overrides:
            ft[target] = overrides[key]
    options = {k[len("merge_"):]: v for k, v in overrides.items() if k.startswith("merge_")}
    return backbone, cfg, ft, options


def state_evaluator(model_name: str, ds: PreparedDataset, config: dict, seed: int, tensors: DatasetTensors):
    """``evaluate(state, phase="valid") -> EvalResult``: one model instance that takes each candidate's
    weights in turn (merges are judged on validation, the chosen one reported on test)."""
    from recsys.eval.protocol import evaluate_task
    from recsys.recbole.interaction import score_function
    from recsys.train.run import build_model

    model, max_len = build_model(model_name, ds, config, seed, tensors)
    scorer = score_function(model, max_len)
    topk = tuple(config.get("topk", (5, 10, 20)))

    def evaluate(state: dict, phase: str = "valid"):
        model.load_state_dict(state)
        model.eval()
        return evaluate_task(scorer, tensors, phase, topk, seed=seed)

    return evaluate


def periodic_run(ds: PreparedDataset, overrides: dict, seed: int, tensors: DatasetTensors, name: str):
    """One strategy of the periodic protocol for one seed; returns a ``RunResult`` like ``train_run``."""
    from recsys.train.checkpoint import read_state
    from recsys.train.run import RunResult, config_hash, train_run

    method = overrides.get("method", "")
    if method not in STRATEGIES:
        raise MergeError(f"{name}: method = {method!r}; choose one of {', '.join(STRATEGIES)}")
    backbone, cfg, ft_cfg, options = _split_config(overrides)
    periods = int(overrides.get("periods", 4))
    t0 = time.perf_counter()
    if method == "retrain":
        result = train_run(backbone, ds, cfg, seed=seed, tensors=tensors)
        result.model, result.config = name, {**result.config, **overrides}
        return result
    parts = split_periods(tensors, periods)
    key = config_hash({"dataset": ds.fingerprint, "backbone": backbone, "config": cfg, "finetune": ft_cfg,
                       "periods": periods, "seed": seed})
    folder = cache_dir() / "checkpoints" / "periodic" / key
    trained = {}

    def ensure(label: str, part: PeriodTensors, config: dict, init: dict | None):
        path = folder / label
        if not path.with_suffix(".pt").is_file():
            r = train_run(backbone, ds, config, seed=seed, tensors=part, checkpoint=path, init_state=init)
            if r.status != "ok":
                raise MergeError(f"{name}: training {label} ({part.period} of {periods}) failed: {r.error}")
            trained[label] = {"epochs_run": r.fit["epochs_run"], "best_epoch": r.fit["best_epoch"],
                              "train_seconds": r.fit["train_seconds"]}
        return read_state(path)

    base = ensure("period1-base", parts[0], cfg, None)
    tunes = [ensure(f"period{p.period}-finetune", p, ft_cfg, base) for p in parts[1:]]
    check_compatible(base, tunes, [f"period {p.period}" for p in parts[1:]])
    touched = [item_rows(base, p) for p in parts[1:]]  # the items each fine-tune's data holds
    evaluate = state_evaluator(backbone, ds, cfg, seed, tensors)
    valid_metric = str(cfg.get("valid_metric", "ndcg@10"))

    state, hi_report = _strategy_state(method, base, tunes, touched, evaluate, valid_metric, options)
    valid = evaluate(state).summary
    result = RunResult(model=name, dataset=ds.name, seed=seed, status="ok", config={**cfg, **overrides},
                       objective="periodic")
    result.test = {phase: evaluate(state, phase) for phase in tensors.split_names() if phase.startswith("test")}
    result.valid = valid
    result.fit = {"periods": periods, "strategy": method, "trained_now": trained, "checkpoints": str(folder),
                  "period_sizes": [int(p.train.lengths.sum()) for p in parts]}
    if hi_report is not None:
        result.fit["hi_merging"] = hi_report
    result.wall_seconds = time.perf_counter() - t0
    return result


def _strategy_state(method: str, base, tunes: list, touched: list, evaluate, valid_metric: str, options: dict):
    """(the weights a strategy serves, Hi-Merging's report or None): the latest fine-tune, the base, or a merge."""
    if method == "latest":
        return tunes[-1], None
    if method == "base":
        return base, None
    if method == "hi_merging":
        from recsys.merging.methods import hi_merging

        return hi_merging(base, tunes, lambda s: evaluate(s).summary[valid_metric], options.get("density", 0.9),
                          touched=touched)
    return merge(method, base, tunes, touched=touched, **options), None
