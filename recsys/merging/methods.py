"""Six ways to merge recommender checkpoints that share an initialisation and an item space.

Every method works on state dicts: ``base`` (the shared starting point) and the fine-tuned
``models``; a model's *task vector* is ``tau_t = theta_t - theta_0`` per parameter. Rules that hold
for all of them:

- **Compatibility is checked first** (``check_compatible``): same keys, shapes and dtypes, and the
  same item space (the checkpoints' ``item_space`` fingerprints, when present). Anything else is
  refused with the offending name.
- **Embedding rows are not diluted.** Where a method averages, an embedding row is averaged over
  the models that touched it (the *disjoint mean*), so an item seen in one period keeps that
  period's update instead of 1/T of it. "Touched" is given by ``touched`` (the rows of the items in
  each fine-tune's data: a softmax over the catalogue moves every row a little, as a negative), or
  else is any row that changed.
- **Norms and biases stay out of SVD** (OPCM): only 2-D weight matrices are projected.
- Integer buffers (positions, counters) must be equal and are copied from the base.

Methods (``MERGE_METHODS``): task arithmetic, TIES, DARE (then task arithmetic or TIES),
Hi-Merging (pruning and scaling guided by per-layer contributions on validation data), OPCM
(continual projection merging, one model at a time, constant memory), and weighted contextual
merging (MMGRid: per-model weights, e.g. by recency).
"""

from __future__ import annotations

import math
import re
from typing import Callable, Iterable

import torch

from recsys.errors import RecsysError

State = dict[str, torch.Tensor]
MERGE_METHODS = ("task_arithmetic", "ties", "dare", "hi_merging", "opcm", "weighted")


class MergeError(RecsysError):
    """Checkpoints that cannot be merged (different shapes, keys or item spaces) or bad merge options."""


def is_embedding(name: str, t: torch.Tensor) -> bool:
    return t.dim() == 2 and "embedding" in name.lower()


def is_matrix(name: str, t: torch.Tensor) -> bool:
    """A 2-D weight that SVD-based steps may touch: not an embedding table, not a norm or bias."""
    return t.dim() == 2 and not is_embedding(name, t) and "norm" not in name.lower()


def check_compatible(base: State, models: list[State], names: list[str] | None = None,
                     item_spaces: list[str | None] | None = None) -> None:
    """Refuse checkpoints that do not share keys, shapes, dtypes and item space with the base."""
    names = names or [f"model {i + 1}" for i in range(len(models))]
    if not models:
        raise MergeError("nothing to merge: give at least one fine-tuned checkpoint besides the base")
    if item_spaces and len({s for s in item_spaces if s is not None}) > 1:
        spaces = ", ".join(f"{n}: {s}" for n, s in zip(["base", *names], item_spaces))
        raise MergeError(f"checkpoints come from different item spaces ({spaces}); merging needs the same "
                         "items at the same indices (fine-tunes of one model on one dataset's item map)")
    for name, state in zip(names, models):
        missing, extra = sorted(set(base) - set(state)), sorted(set(state) - set(base))
        if missing or extra:
            raise MergeError(f"{name}: parameters differ from the base: "
                             + (f"missing {missing[:3]}" if missing else "") + (" " if missing and extra else "")
                             + (f"unexpected {extra[:3]}" if extra else "")
                             + " (merging needs one architecture with one initialisation)")
        for key, value in base.items():
            other = state[key]
            if other.shape != value.shape or other.dtype != value.dtype:
                what = "item embedding: a different item space" if "item" in key.lower() else "a different shape"
                raise MergeError(f"{name}: {key} is {tuple(other.shape)} {other.dtype}, the base's "
                                 f"{tuple(value.shape)} {value.dtype} ({what})")
            if not value.is_floating_point() and not torch.equal(value, other):
                raise MergeError(f"{name}: buffer {key} differs from the base's (integer buffers must be equal)")


def task_vectors(base: State, models: list[State]) -> list[State]:
    return [{k: m[k] - base[k] for k in base if base[k].is_floating_point()} for m in models]


def _rows_touched(delta: torch.Tensor) -> torch.Tensor:
    return (delta != 0).any(dim=1)


def _combine(base: State, merged_delta: State) -> State:
    return {k: (v + merged_delta[k].to(v.dtype)) if k in merged_delta else v.clone() for k, v in base.items()}


def _weighted_sum(name: str, deltas: list[torch.Tensor], weights: list[float], disjoint_rows: bool,
                  touched: list[torch.Tensor] | None = None) -> torch.Tensor:
    """sum_t w_t tau_t; for embedding rows, only the models that touched the row count, their weights
    rescaled to sum to sum_t w_t (an untouched row takes no share of the weight, nor its drift)."""
    if not (disjoint_rows and is_embedding(name, deltas[0])):
        return sum(w * d for w, d in zip(weights, deltas))
    masks = touched or [_rows_touched(d) for d in deltas]
    total = sum(weights)
    out = sum(w * d * m[:, None] for w, d, m in zip(weights, deltas, masks))
    mass = sum(w * m.to(d.dtype) for w, d, m in zip(weights, deltas, masks))  # [rows]
    scale = torch.where(mass > 0, total / mass.clamp(min=1e-12), torch.zeros_like(mass))
    return out * scale[:, None]


Touched = list[dict[str, torch.Tensor]] | None  # per model: parameter -> bool mask of the rows its data touched


def _masks(touched: Touched, key: str) -> list[torch.Tensor] | None:
    return [t[key] for t in touched] if touched and all(key in t for t in touched) else None


def task_arithmetic(base: State, models: list[State], scale: float | None = None, touched: Touched = None) -> State:
    """theta_0 + lambda * sum_t tau_t; ``scale`` lambda defaults to 1/T (the mean of the fine-tunes)."""
    deltas = task_vectors(base, models)
    lam = 1.0 / len(models) if scale is None else float(scale)
    return _combine(base, {k: _weighted_sum(k, [d[k] for d in deltas], [lam] * len(deltas), True,
                                            _masks(touched, k)) for k in deltas[0]})


def weighted(base: State, models: list[State], weights: list[float], touched: Touched = None) -> State:
    """Weighted contextual merging (MMGRid): theta_0 + sum_c w_c tau_c, weights normalised to sum to 1."""
    if len(weights) != len(models):
        raise MergeError(f"{len(weights)} weights for {len(models)} models")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise MergeError(f"weights must be >= 0 with a positive sum, got {weights}")
    w = [x / sum(weights) for x in weights]
    deltas = task_vectors(base, models)
    return _combine(base, {k: _weighted_sum(k, [d[k] for d in deltas], w, True, _masks(touched, k))
                           for k in deltas[0]})


def recency_weights(n: int, decay: float = 0.5) -> list[float]:
    """The newest model weighs 1, the one before ``decay``, then ``decay**2`` ... (normalised by ``weighted``)."""
    return [decay ** (n - 1 - i) for i in range(n)]


def _trim(delta: torch.Tensor, density: float) -> torch.Tensor:
    """Keep the top ``density`` share of entries by magnitude (ties at the threshold kept)."""
    if density >= 1.0:
        return delta
    k = max(1, int(math.ceil(density * delta.numel())))
    threshold = delta.abs().flatten().kthvalue(delta.numel() - k + 1).values
    return delta * (delta.abs() >= threshold)


def _ties_delta(deltas: list[torch.Tensor], density: float) -> torch.Tensor:
    trimmed = torch.stack([_trim(d, density) for d in deltas])
    sign = torch.sign(trimmed.sum(0))
    agree = (torch.sign(trimmed) == sign) & (trimmed != 0)
    count = agree.sum(0)
    return torch.where(count > 0, (trimmed * agree).sum(0) / count.clamp(min=1), torch.zeros_like(sign))


def ties(base: State, models: list[State], density: float = 0.2, scale: float = 1.0) -> State:
    """TIES: trim each tau_t to its top ``density`` by magnitude, elect a sign per entry (sign of the sum),
    average the entries that agree with it (a disjoint mean), theta_0 + lambda * tau_m."""
    if not 0 < density <= 1:
        raise MergeError(f"density must be in (0, 1], got {density}")
    deltas = task_vectors(base, models)
    return _combine(base, {k: scale * _ties_delta([d[k] for d in deltas], density) for k in deltas[0]})


def dare(base: State, models: list[State], drop: float = 0.5, then: str = "task_arithmetic", seed: int = 0,
         **options) -> State:
    """DARE: drop each entry of each tau_t with probability ``drop``, rescale the rest by 1/(1 - drop),
    then merge with ``then`` (task_arithmetic or ties)."""
    if not 0 <= drop < 1:
        raise MergeError(f"drop must be in [0, 1), got {drop}")
    gen = torch.Generator().manual_seed(seed)
    sparse = []
    for m in models:
        out = {}
        for k, v in m.items():
            if not v.is_floating_point():
                out[k] = v
                continue
            d = v - base[k]
            keep = torch.rand(d.shape, generator=gen) >= drop
            out[k] = base[k] + d * keep / (1 - drop)
        sparse.append(out)
    if then == "task_arithmetic":
        return task_arithmetic(base, sparse, options.get("scale"), options.get("touched"))
    if then == "ties":
        return ties(base, sparse, options.get("density", 0.2), options.get("scale", 1.0))
    raise MergeError(f"DARE merges with task_arithmetic or ties, not {then!r}")


def layer_groups(names: Iterable[str]) -> dict[str, list[str]]:
    """Parameters grouped by layer: ``...layer.3.`` prefixes, else the module before the last name."""
    groups: dict[str, list[str]] = {}
    for n in names:
        m = re.match(r"(.*?\.(?:layer|layers|blocks)\.\d+)\.", n)
        key = m.group(1) if m else (n.rsplit(".", 1)[0] if "." in n else n)
        groups.setdefault(key, []).append(n)
    return groups


def _layer_scales(groups: dict, keep: dict, n_models: int, scales: tuple[float, ...], score) -> dict[str, float]:
    """Hi-Merging's step 3: layer by layer, the scale of the merged change that scores best (earlier layers'
    choices kept); layers whose every change was pruned are skipped."""
    layer_scale: dict[str, float] = {}
    for g in groups:
        if not any(keep[(t, g)] for t in range(n_models)):
            continue
        layer_scale[g] = max(scales, key=lambda s: score({**layer_scale, g: s}))
    return layer_scale


def hi_merging(base: State, models: list[State], evaluate: Callable[[State], float], density: float = 0.9,
               scales: tuple[float, ...] = (0.5, 1.0, 1.5), echo=lambda *_: None,
               touched: Touched = None) -> tuple[State, dict]:
    """Hi-Merging: model-wise, then layer-wise pruning and scaling from per-layer contributions.

    1. Model-wise: each tau_t is trimmed to its top ``density`` by magnitude; the merge starts as their
       disjoint-row mean (task arithmetic, lambda = 1/T).
    2. Contribution analysis: for each layer l and model t, the validation score of the merge without
       tau_{t,l}. A change whose removal *raises* the score hurts; a layer where one model's change helps
       and another's hurts is a conflict: the hurting changes are pruned from that layer.
    3. Layer-wise scaling: each layer's merged change is scaled by the best of ``scales`` on validation.
    ``evaluate(state) -> score`` (higher is better) is the validation metric. Returns the merged state and
    a report of the decisions.
    """
    trimmed = [{k: (base[k] + _trim(m[k] - base[k], density)) if base[k].is_floating_point() else m[k]
                for k in base} for m in models]
    deltas = task_vectors(base, trimmed)
    keys = list(deltas[0])
    lam = [1.0 / len(models)] * len(models)
    groups = layer_groups(keys)
    keep = {(t, g): True for t in range(len(models)) for g in groups}

    def merged(keep_map, layer_scale):
        out = {}
        for g, names in groups.items():
            use = [t for t in range(len(models)) if keep_map[(t, g)]]
            for k in names:
                if not use:
                    out[k] = torch.zeros_like(deltas[0][k])
                    continue
                w = [lam[t] * len(models) / len(use) for t in use]  # the kept models share the layer's weight
                masks = _masks(touched, k)
                out[k] = layer_scale.get(g, 1.0) * _weighted_sum(k, [deltas[t][k] for t in use], w, True,
                                                                 [masks[t] for t in use] if masks else None)
        return _combine(base, out)

    report = {"start": evaluate(merged(keep, {})), "pruned": [], "scales": {}}
    for g in groups:
        effects = {}
        for t in range(len(models)):
            without = dict(keep)
            without[(t, g)] = False
            effects[t] = report["start"] - evaluate(merged(without, {}))  # > 0: model t's change helps here
        helps = [t for t, e in effects.items() if e > 0]
        hurts = [t for t, e in effects.items() if e < 0]
        if helps and hurts:  # a conflict: prune the changes that hurt
            for t in hurts:
                keep[(t, g)] = False
                report["pruned"].append({"layer": g, "model": t, "effect": effects[t]})
    layer_scale = _layer_scales(groups, keep, len(models), scales, lambda scale: evaluate(merged(keep, scale)))
    report["scales"] = layer_scale
    final = merged(keep, layer_scale)
    report["final"] = evaluate(final)
    echo(f"hi-merging: validation {report['start']:.4f} -> {report['final']:.4f}, "
         f"{len(report['pruned'])} conflicting layer changes pruned")
    return final, report


def opcm(base: State, models: Iterable[State], alpha: float = 0.5, scale: float = 1.0,
         touched: Touched = None) -> State:
    """Continual projection merging (OPCM): models arrive one at a time.

    For each weight matrix, the new task vector is projected onto the subspace orthogonal to the merged
    change's top singular directions (those holding an ``alpha`` share of its energy, left and right),
    added, and the sum rescaled so that its norm stays the mean of the individual task vectors' norms.
    Embedding rows take a running disjoint mean; norms, biases and other tensors a running mean. Memory:
    the merged change, per-row counts and running norms, whatever the number of models.
    """
    if not 0 <= alpha < 1:
        raise MergeError(f"alpha must be in [0, 1), got {alpha}")
    merged: State = {}
    rows: dict[str, torch.Tensor] = {}
    norms: dict[str, float] = {}
    n = 0
    for model in models:
        n += 1
        rows_of = (lambda key, d: touched[n - 1][key].double()) if touched else None
        for k, v in base.items():
            if not v.is_floating_point():
                continue
            d = (model[k] - v).double()
            if n == 1:
                merged[k] = d
                if is_embedding(k, d):
                    mask = rows_of(k, d) if rows_of and k in touched[0] else _rows_touched(d).double()
                    merged[k] = d * mask[:, None]
                    rows[k] = mask
                norms[k] = float(d.norm())
                continue
            if is_embedding(k, d):
                mask = rows_of(k, d) if rows_of and k in touched[n - 1] else _rows_touched(d).double()
                count = rows[k] + mask
                merged[k] = torch.where(count[:, None] > 0, (merged[k] * rows[k][:, None] + d * mask[:, None])
                                        / count.clamp(min=1)[:, None], merged[k])
                rows[k] = count
            elif is_matrix(k, d):
                u, s, vh = torch.linalg.svd(merged[k], full_matrices=False)
                energy = (s ** 2).cumsum(0) / (s ** 2).sum().clamp(min=1e-30)
                r = int((energy < alpha).sum()) + 1 if alpha > 0 else 0
                ur, vr = u[:, :r], vh[:r].T
                projected = d - ur @ (ur.T @ d)
                projected = projected - (projected @ vr) @ vr.T
                norms[k] = norms[k] + (float(d.norm()) - norms[k]) / n  # running mean of the norms
                total = merged[k] + projected
                merged[k] = total * (norms[k] / float(total.norm())) if float(total.norm()) > 0 else total
            else:
                merged[k] = merged[k] + (d - merged[k]) / n
    if n == 0:
        raise MergeError("nothing to merge: OPCM received no model")
    return _combine(base, {k: scale * v for k, v in merged.items()})


def merge(method: str, base: State, models: list[State], evaluate: Callable[[State], float] | None = None,
          **options) -> State:
    """One entry point for the CLI and the merging suite; options by method (see each function)."""
    touched = options.get("touched")
    if method == "task_arithmetic":
        return task_arithmetic(base, models, options.get("scale"), touched)
    if method == "ties":
        return ties(base, models, options.get("density", 0.2), options.get("scale", 1.0))
    if method == "dare":
        return dare(base, models, options.get("drop", 0.5), options.get("then", "task_arithmetic"),
                    options.get("seed", 0),
                    **{k: v for k, v in options.items() if k in ("scale", "density", "touched")})
    if method == "hi_merging":
        if evaluate is None:
            raise MergeError("hi_merging needs validation data to measure each layer's contribution "
                             "(recsys merge --dataset NAME)")
        return hi_merging(base, models, evaluate, options.get("density", 0.9), touched=touched)[0]
    if method == "opcm":
        return opcm(base, models, options.get("alpha", 0.5), options.get("scale", 1.0), touched)
    if method == "weighted":
        w = options.get("weights") or recency_weights(len(models), options.get("decay", 0.5))
        return weighted(base, models, list(w), touched)
    raise MergeError(f"unknown merge method {method!r}; choose one of {', '.join(MERGE_METHODS)}")
