"""Test-time augmentation of an already trained sequential model: load, wrap, evaluate; no training.

``tta_run(checkpoint, ds, "TMask-R")`` rebuilds the backbone from its checkpoint (a state dict
plus the JSON config it was trained with), wraps it in TTA4SR's augmenter and evaluates every
test split on the untruncated histories. The plain backbone is evaluated in the same run, so
the extra inference time per user is measured side by side.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import torch

from recsys.data.prepare import PreparedDataset
from recsys.data.tensors import DatasetTensors
from recsys.errors import RecsysError
from recsys.eval.protocol import SAMPLED_SUFFIX, evaluate_sampled, evaluate_task
from recsys.models.registry import get_model_spec
from recsys.models.sequential.tta4sr import Augmenter, label, paper_defaults_for, tta_defaults
from recsys.recbole.interaction import score_function
from recsys.train.checkpoint import load_checkpoint
from recsys.train.config import DEFAULTS
from recsys.train.run import RunResult, build_model


class CheckpointMismatch(RecsysError):
    pass


def load_trained(checkpoint: str | Path, ds: PreparedDataset, tensors: DatasetTensors | None = None):
    """(model in eval mode, its spec, its saved run config) from a ``recsys train --checkpoint`` file."""
    path = Path(checkpoint)
    meta_path = path.with_suffix(".json")
    if not path.with_suffix(".pt").is_file() or not meta_path.is_file():
        raise CheckpointMismatch(f"{path.with_suffix('.pt')}: checkpoint not found (need the .pt weights and "
                                 f"the .json config written by `recsys train --checkpoint`)")
    meta = json.loads(meta_path.read_text())
    for key in ("model", "fingerprint", "config"):
        if key not in meta:
            raise CheckpointMismatch(f"{meta_path}: key {key!r} missing; not a recsys checkpoint config")
    if meta["fingerprint"] != ds.fingerprint:
        raise CheckpointMismatch(f"{meta_path}: trained on {meta.get('dataset')} with fingerprint "
                                 f"{meta['fingerprint']}, but {ds.name} is {ds.fingerprint}; "
                                 "augment a checkpoint trained on this exact prepared dataset")
    spec = get_model_spec(meta["model"])
    if spec.task != "sequential":
        raise CheckpointMismatch(f"{meta_path}: {spec.name} is a {spec.task} model; TTA4SR needs a sequential one")
    tensors = tensors or DatasetTensors(ds)
    model, _ = build_model(spec.name, ds, meta["config"], int(meta.get("seed", 1)), tensors)  # variants included
    load_checkpoint(model, path)
    model.eval()
    return model, spec, meta


def backbone_loss(model, run_cfg: dict) -> tuple[str, str]:
    """A test-time method adds no loss: its row compares under its backbone's loss family."""
    from recsys.train.objectives import loss_family

    family, loss = loss_family(model, "full_sequence", run_cfg)
    return family, f"{loss} (the backbone's; inference only)"


def _say_defaults(dataset: str, overrides: dict, sigma: float) -> None:
    """A dataset the paper did not tune gets Beauty's values: said on the console, not silently."""
    if paper_defaults_for(dataset) is None and "sigma" not in overrides:
        import sys

        print(f"note: TTA4SR has no paper defaults for {dataset}; using Beauty's (sigma {sigma}); "
              "choose sigma on validation with --tta-sigma-grid 0.1,0.2,0.3,0.5", file=sys.stderr)


def tta_run(checkpoint: str | Path, ds: PreparedDataset, operator: str = "TMask-R", overrides: dict | None = None,
            seed: int = 1, tensors: DatasetTensors | None = None, name: str | None = None) -> RunResult:
    """Evaluate ``TTA4SR(<backbone>, <operator>)`` on every test split of ``ds``.

    ``overrides`` are TTAConfig fields (``sigma``, ``copies``, ...) plus ``sigma_grid``: a list of
    sigmas tried on the validation split, the best (by the backbone's ``valid_metric``) then used on test.
    """
    t_start = time.perf_counter()
    tensors = tensors or DatasetTensors(ds)
    model, spec, meta = load_trained(checkpoint, ds, tensors)
    run_cfg = {**DEFAULTS, **meta["config"]}
    max_len = int(run_cfg.get("MAX_ITEM_LIST_LENGTH") or 50)
    overrides = dict(overrides or {})
    grid = overrides.pop("sigma_grid", None)
    ks, ties, bs = tuple(run_cfg["topk"]), run_cfg["tie_policy"], int(run_cfg["eval_batch_size"])
    selection = {}
    if grid:  # choose sigma on the validation split: never on test
        metric = str(run_cfg.get("valid_metric", "ndcg@10")).lower()
        for sigma in grid:
            cfg = tta_defaults(ds.name, spec.name, operator, seed=seed, **{**overrides, "sigma": float(sigma)})
            res = evaluate_task(Augmenter(model, cfg, max_len).score_function(), tensors, "valid", ks, ties, bs,
                                seed=seed, groups=None)
            selection[str(sigma)] = res.summary[metric]
        overrides["sigma"] = float(max(grid, key=lambda g: selection[str(g)]))
    tta = tta_defaults(ds.name, spec.name, operator, seed=seed, **overrides)
    _say_defaults(ds.name, overrides, tta.sigma)
    augmenter = Augmenter(model, tta, max_len)
    result = RunResult(model=name or label(spec.name, operator), dataset=ds.name, seed=seed, status="ok",
                       config={"backbone": spec.name, "backbone_checkpoint": str(Path(checkpoint).name),
                               "backbone_config": meta["config"], "augments": "untruncated",
                               **{f"tta_{k}": v for k, v in tta.as_dict().items()},
                               **({"tta_sigma_grid": list(grid)} if grid else {})},
                       objective="none (inference only)",
                       **dict(zip(("loss_family", "loss"), backbone_loss(model, run_cfg))))
    timings = {}
    with torch.no_grad():
        for phase in [s for s in tensors.split_names() if s.startswith("test")]:
            t0 = time.perf_counter()
            plain = evaluate_task(score_function(model, max_len), tensors, phase, ks, ties, bs, seed=seed)
            t1 = time.perf_counter()
            result.test[phase] = evaluate_task(augmenter.score_function(), tensors, phase, ks, ties, bs,
                                               seed=seed)
            t2 = time.perf_counter()
            negatives = int(run_cfg.get("eval_negatives") or 0)
            if negatives:  # the papers' protocol on the same weights (TTA4SR's paper samples negatives)
                result.test[phase + SAMPLED_SUFFIX] = evaluate_sampled(augmenter.score_function(), tensors, phase,
                                                                       negatives, ks, ties, bs, seed=seed)
            users = len(plain.users)
            timings[phase] = {"backbone_seconds": t1 - t0, "tta_seconds": t2 - t1, "users": users,
                              "extra_ms_per_user": 1000 * ((t2 - t1) - (t1 - t0)) / max(users, 1),
                              "time_ratio": (t2 - t1) / max(t1 - t0, 1e-9),
                              "backbone_ndcg@10": plain.summary.get("ndcg@10")}
    result.fit = {"epochs_run": 0, "best_epoch": meta.get("best_epoch", -1), "inference": timings,
                  "sigma_selection": selection,
                  "backbone_seed": meta.get("seed"), "test_seconds": sum(t["tta_seconds"] for t in timings.values())}
    result.wall_seconds = time.perf_counter() - t_start
    result.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result
