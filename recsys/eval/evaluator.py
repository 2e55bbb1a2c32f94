"""Full-ranking evaluation over every user with targets in a phase, in one vectorised pass per batch.

The evaluator never touches a model: it calls ``score_fn(users, history)`` for a batch of
user indices and gets ``[B, n_items + 1]`` scores (column 0 is padding). It masks the
users' history items (train for ``valid``; train + valid for test phases) except the users'
own targets (RecBole's rule: a repeated purchase can still be found), the padding
column and, optionally, items outside a candidate mask (per-domain ranking; a target outside
it counts as a miss), then ranks
the targets under the declared tie policy and keeps every metric per user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from recsys import distributed
from recsys.data.tensors import DatasetTensors, Ragged
from recsys.eval.beyond import beyond_metrics
from recsys.eval.groups import GroupSpec, group_summary, user_groups
from recsys.eval.ranking import RANK_METRICS, positive_ranks, rank_metrics

ScoreFn = Callable[[np.ndarray, Ragged], torch.Tensor]
DEFAULT_KS = (5, 10, 20)


@dataclass
class EvalResult:
    phase: str
    users: np.ndarray  # user indices, aligned with every per-user vector
    per_user: dict[str, np.ndarray]
    summary: dict[str, float]
    tie_policy: str
    repeated_targets: int = 0  # targets that were also history items (left rankable, as in RecBole)
    extra: dict = field(default_factory=dict)
    groups: dict[str, np.ndarray] = field(default_factory=dict)  # per-user group labels (see eval/groups.py)

    def __getitem__(self, key: str) -> float:
        return self.summary[key]


def mask_history(scores: torch.Tensor, users: np.ndarray, history: Ragged, value: float = -torch.inf) -> None:
    """Set each user's history items to ``value`` (-inf: removed), in place, with one scatter."""
    lengths = history.lengths[users]
    if lengths.sum() == 0:
        return
    rows = np.repeat(np.arange(len(users)), lengths)
    starts = history.indptr[users]
    offs = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cols = history.items[np.repeat(starts, lengths) + offs]
    scores[torch.from_numpy(rows), torch.from_numpy(cols)] = value


def evaluate(score_fn: ScoreFn, tensors: DatasetTensors, phase: str = "test", ks=DEFAULT_KS,
             tie_policy: str = "pessimistic", batch_size: int = 1024, candidates: torch.Tensor | None = None,
             seed: int = 0, progress: bool = False, max_users: int | None = None,
             groups: GroupSpec | None = GroupSpec(), only_users: np.ndarray | None = None,
             row_candidates: torch.Tensor | None = None, history_score: float | None = None) -> EvalResult:
    """Rank every item for every user with ``phase`` targets; return per-user and mean metrics.

    ``only_users``: a boolean mask over the phase's users (``tensors.targets(phase)`` order) to
    evaluate a subset. Under ``torchrun`` each rank ranks a contiguous block of the users and the
    per-user vectors and top-k lists are all-gathered before any summary (``recsys.distributed``),
    so every rank returns the one-process result. ``row_candidates``: [users, n] item indices per user (aligned with the
    evaluated users): only those items and the user's targets are ranked (sampled evaluation).
    ``history_score``: give history items this score instead of removing them. Only for reproducing
    official code that "masks" with 0 (TTA4SR's): such items stay in the ranking.
    """
    users, targets = tensors.targets(phase)
    if only_users is not None:
        users, targets = users[only_users], targets[torch.from_numpy(np.asarray(only_users))]
    if max_users is not None:
        users, targets = users[:max_users], targets[:max_users]
    history = tensors.history(phase)
    popularity = tensors.item_popularity()
    per_user: dict[str, list[np.ndarray]] = {}
    tops, repeats = [], 0
    kmax = max(ks)
    info = distributed.current()
    sharded = info.active and len(users) >= info.world_size  # fewer users than ranks: every rank does all
    mine = distributed.block(len(users)) if sharded else slice(0, len(users))
    batches = range(mine.start, mine.stop, batch_size)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc=f"eval {phase}", unit="batch", leave=False, disable=None)
    with torch.no_grad():
        for start in batches:
            stop = min(start + batch_size, mine.stop)
            u = users[start: stop]
            pos = targets[start: stop]
            pos = pos[:, :int((pos >= 0).sum(1).max())]
            scores = _batch_scores(score_fn, u, history, tensors.n_items)
            sampled = row_candidates[start: stop] if row_candidates is not None else None
            repeats += _rankable(scores, u, pos, history, history_score, candidates, sampled)
            top = scores.topk(kmax, dim=1)
            ranks = positive_ranks(scores, pos, tie_policy, seed=seed + start, top_values=top.values)
            for key, vec in rank_metrics(ranks, ks).items():
                per_user.setdefault(key, []).append(vec)
            tops.append(top.indices)
    vectors = {k: np.concatenate(v) for k, v in per_user.items()}
    top = torch.cat(tops)
    if sharded:  # every user's vectors and top-k on every rank, in the one-process order
        vectors = {k: distributed.all_gather_array(v) for k, v in sorted(vectors.items())}
        top = distributed.all_gather_rows(top)
        repeats = int(distributed.all_reduce_sum(repeats))
    summary, labels = _summary(vectors, top, users, targets, history, popularity, ks, groups)
    return EvalResult(phase=phase, users=users, per_user=vectors, summary=summary, tie_policy=tie_policy,
                      repeated_targets=repeats, groups=labels)


def _batch_scores(score_fn: ScoreFn, u: np.ndarray, history, n_items: int) -> torch.Tensor:
    """One batch's [users, n_items + 1] float scores, checked (shape, NaN)."""
    # a copy: scores may alias model state (a buffer, an expanded view), and masking is in place
    scores = score_fn(u, history).detach().reshape(len(u), -1).clone()
    if not scores.is_floating_point():
        scores = scores.float()
    if scores.shape[1] != n_items + 1:
        raise ValueError(f"score_fn returned {scores.shape[1]} columns; expected n_items + 1 = "
                         f"{n_items + 1} (column 0 is padding)")
    if torch.isnan(scores.max()):  # max propagates NaN: one cheap pass
        raise FloatingPointError("the model produced NaN scores during evaluation")
    return scores


def _rankable(scores: torch.Tensor, u: np.ndarray, pos: torch.Tensor, history, history_score: float | None,
              candidates: torch.Tensor | None, sampled: torch.Tensor | None) -> int:
    """Mask in place what may not be ranked (padding, history, non-candidates); targets stay rankable.
    Returns how many targets repeat a history item."""
    idx = pos.clamp(min=0)
    target_scores = scores.gather(1, idx)
    scores[:, 0] = -torch.inf
    mask_history(scores, u, history, -torch.inf if history_score is None else history_score)
    # a target that repeats a history item stays rankable (history minus targets, as RecBole)
    repeats = int((torch.isneginf(scores.gather(1, idx)) & (pos >= 0)).sum())
    scores.scatter_(1, idx, torch.where(pos >= 0, target_scores, scores.gather(1, idx)))
    if candidates is not None:
        scores[:, ~candidates] = -torch.inf
    if sampled is not None:  # keep only each user's sampled candidates and targets
        keep = torch.zeros_like(scores, dtype=torch.bool)
        keep.scatter_(1, sampled, True)
        keep.scatter_(1, idx, pos >= 0)
        keep[:, 0] = False
        scores[~keep] = -torch.inf
    return repeats


def _summary(vectors: dict, top: torch.Tensor, users, targets, history, popularity, ks,
             groups: GroupSpec | None) -> tuple[dict, dict]:
    """(mean metrics, beyond-accuracy metrics and group means; each user's group labels)."""
    summary = {k: float(v.mean()) for k, v in vectors.items()}
    for k in ks:
        summary.update(beyond_metrics(top, popularity, k))
    labels = {}
    if groups is not None:
        width = (targets >= 0).sum(1)
        single = targets[:, :1].numpy() if int(width.max()) == 1 else targets.numpy()
        labels = user_groups(users, single, history.lengths, popularity, groups)
        summary.update(group_summary(vectors, labels, groups.metrics))
    return summary, labels

__all__ = ["EvalResult", "evaluate", "mask_history", "RANK_METRICS", "DEFAULT_KS"]
