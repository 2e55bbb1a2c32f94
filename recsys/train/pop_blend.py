"""A popularity-blend control for test-time methods (issue 27): a trained model's scores plus
lambda * (the item's popularity score), lambda chosen on validation from a small grid.

    score'(u, i) = (s(u, i) - mean_u s) / std_u s  +  lambda * z(log(1 + pop(i)))

Each user's scores are standardised so one grid serves every backbone and loss; z() standardises
the log training popularity over the catalogue. lambda = 0 is the backbone itself. Beside a
test-time method's row (TTA4SR), it shows how much of that method's gain a popularity correction
at no inference cost would give. Like TTA4SR it trains nothing: it reads a backbone checkpoint.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import torch

from recsys.data.prepare import PreparedDataset
from recsys.data.tensors import DatasetTensors
from recsys.eval.protocol import SAMPLED_SUFFIX, evaluate_sampled, evaluate_task
from recsys.recbole.interaction import score_function
from recsys.train.config import DEFAULTS
from recsys.train.run import RunResult

GRID = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)


def popularity_scores(tensors: DatasetTensors) -> torch.Tensor:
    """[n_items + 1] z-scored log(1 + training popularity); column 0 (padding) is 0."""
    pop = torch.as_tensor(np.asarray(tensors.item_popularity(), dtype=np.float64)[: tensors.n_items + 1])
    z = torch.log1p(pop.float())
    z[1:] = (z[1:] - z[1:].mean()) / z[1:].std().clamp(min=1e-8)
    z[0] = 0.0
    return z


def blended(score_fn, z: torch.Tensor, lam: float):
    """The blended scorer of ``score_fn`` (per-user standardised scores + lam * z)."""
    def scores(users, history):
        s = score_fn(users, history).float().clone()
        body = s[:, 1:]
        s[:, 1:] = (body - body.mean(1, keepdim=True)) / body.std(1, keepdim=True).clamp(min=1e-8) + lam * z[1:]
        return s
    return scores


def pop_blend_run(checkpoint: str | Path, ds: PreparedDataset, grid=GRID, seed: int = 1,
                  tensors: DatasetTensors | None = None, name: str | None = None) -> RunResult:
    """Evaluate ``PopBlend(<backbone>)`` on every test split, lambda chosen on the validation split."""
    from recsys.models.registry import get_model_spec
    from recsys.train.tta import backbone_loss, load_trained

    t_start = time.perf_counter()
    tensors = tensors or DatasetTensors(ds)
    model, spec, meta = load_trained(checkpoint, ds, tensors)
    cfg = {**DEFAULTS, **meta["config"]}
    max_len = int(cfg.get("MAX_ITEM_LIST_LENGTH") or 50)
    ks, ties, bs = tuple(cfg["topk"]), cfg["tie_policy"], int(cfg["eval_batch_size"])
    metric = str(cfg.get("valid_metric", "ndcg@10")).lower()
    base = score_function(model, max_len, causal=get_model_spec(spec.name).full_sequence)
    z = popularity_scores(tensors)
    with torch.no_grad():
        selection = {str(lam): evaluate_task(blended(base, z, lam), tensors, "valid", ks, ties, bs, seed=seed,
                                             groups=None).summary[metric] for lam in grid}
        lam = float(max(grid, key=lambda g: selection[str(g)]))
        family, loss = backbone_loss(model, cfg)
        result = RunResult(model=name or f"PopBlend({spec.name})", dataset=ds.name, seed=seed, status="ok",
                           config={"backbone": spec.name, "backbone_checkpoint": Path(checkpoint).name,
                                   "backbone_config": meta["config"], "blend_grid": list(grid), "blend_lambda": lam},
                           objective="none (inference only)", loss_family=family, loss=loss)
        negatives = int(cfg.get("eval_negatives") or 0)
        for phase in [s for s in tensors.split_names() if s.startswith("test")]:
            result.test[phase] = evaluate_task(blended(base, z, lam), tensors, phase, ks, ties, bs, seed=seed)
            if negatives:
                result.test[phase + SAMPLED_SUFFIX] = evaluate_sampled(blended(base, z, lam), tensors, phase,
                                                                       negatives, ks, ties, bs, seed=seed)
    result.fit = {"epochs_run": 0, "lambda_selection": selection, "backbone_seed": meta.get("seed")}
    result.wall_seconds = time.perf_counter() - t_start
    result.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result
