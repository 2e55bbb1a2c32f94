"""Full-ranking metrics from a score matrix, with a declared tie policy and per-user vectors.

Everything is computed from the rank of each positive item among the candidates, so
one vectorised pass gives every metric at every K. Definitions (with formulas) are in
``docs/metrics.md``; they equal RecBole's evaluator on tie-free scores (a test pins it).

Tie policies (how a positive item is ranked among items with exactly its score):
- ``pessimistic`` (default): every tied non-positive item is ranked above it. A constant model scores 0.
- ``optimistic``: every tied non-positive item is ranked below it (reported only for comparison).
  Under both, a user's positives tied with each other take consecutive places among themselves
  (in the order they are listed), so two tied positives are never both first (precision <= 1)
  nor both last.
- ``expected``: the expectation of each metric over a uniformly random order of the tied
  items, computed per positive item (ties between two positives are treated independently).
- ``random``: ties broken by seeded random keys (reproducible for a given seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

TIE_POLICIES = ("pessimistic", "optimistic", "expected", "random")
RANK_METRICS = ("recall", "hit", "ndcg", "mrr", "precision", "map")


@dataclass
class PositiveRanks:
    """For each (user, positive) pair: items strictly above it (``greater``) and tied with it (``ties``)."""

    greater: torch.Tensor  # [U, P] float
    ties: torch.Tensor  # [U, P] float
    valid: torch.Tensor  # [U, P] bool (positions beyond a user's positive count are padding)


def positive_ranks(scores: torch.Tensor, positives: torch.Tensor, tie_policy: str = "pessimistic",
                   seed: int = 0, top_values: torch.Tensor | None = None) -> PositiveRanks:
    """Count, per positive, the candidates scoring above it and tied with it.

    ``scores``: [U, I] with excluded items (history, non-candidates, padding) at ``-inf``.
    ``positives``: [U, P] item indices, padded with -1. A positive scored ``-inf`` counts as a miss.
    ``top_values``: the row-wise top-K scores (sorted, descending). When given, ranks are exact
    below K and capped at K above it (enough for every metric @k <= K), and the full row is only
    scanned for positives tied with the K-th score; without it, every rank is exact.
    """
    if tie_policy not in TIE_POLICIES:
        raise ValueError(f"tie_policy must be one of {TIE_POLICIES}, got {tie_policy!r}")
    valid = positives >= 0
    idx = positives.clamp(min=0)
    pos_scores = scores.gather(1, idx)  # [U, P]
    if tie_policy == "random":
        gen = torch.Generator().manual_seed(seed)
        keys = torch.rand(scores.shape, generator=gen, dtype=torch.float64)
        pos_keys = keys.gather(1, idx)
        greater = torch.zeros(positives.shape, dtype=torch.float64)
        for p in range(positives.shape[1]):
            s = pos_scores[:, p : p + 1]
            above = (scores > s) | ((scores == s) & (keys > pos_keys[:, p : p + 1]))
            greater[:, p] = above.sum(1).double()
        ties = torch.zeros_like(greater)
    elif top_values is not None:
        greater, ties = _counts_from_top(scores, pos_scores, valid, top_values)
    else:
        greater, ties = _counts_full(scores, pos_scores)
    # a positive that is masked out (e.g. by a candidate mask) can never be recommended: a miss,
    # ranked below every candidate
    excluded = torch.isneginf(pos_scores) & valid
    if excluded.any():
        greater = torch.where(excluded, torch.full_like(greater, float(scores.shape[1])), greater)
        ties = torch.where(excluded, torch.zeros_like(ties), ties)
    if tie_policy in ("pessimistic", "optimistic"):
        tied_pos, tied_before = _tied_positives(pos_scores, valid & ~excluded)
        other = (ties - tied_pos).clamp(min=0)  # tied items that are not this user's positives
        greater = greater + tied_before + (other if tie_policy == "pessimistic" else 0.0)
        ties = torch.zeros_like(ties)
    return PositiveRanks(greater=greater, ties=ties, valid=valid)


def _tied_positives(pos_scores: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per positive: how many of the user's other positives share its score, and how many of those come first."""
    same = (pos_scores.unsqueeze(2) == pos_scores.unsqueeze(1)) & valid.unsqueeze(1) & valid.unsqueeze(2)
    same &= ~torch.eye(pos_scores.shape[1], dtype=torch.bool, device=pos_scores.device)
    return same.sum(2).double(), torch.tril(same, diagonal=-1).sum(2).double()


def _counts_full(scores: torch.Tensor, pos_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact (greater, ties) by one sort per row and a binary search per positive."""
    ordered = scores.sort(dim=1).values
    n = scores.shape[1]
    left = torch.searchsorted(ordered, pos_scores.contiguous(), right=False)
    right = torch.searchsorted(ordered, pos_scores.contiguous(), right=True)
    return (n - right).double(), (right - left - 1).clamp(min=0).double()


def _counts_from_top(scores, pos_scores, valid, top_values) -> tuple[torch.Tensor, torch.Tensor]:
    k = top_values.shape[1]
    last = top_values[:, -1:]
    greater = (top_values.unsqueeze(1) > pos_scores.unsqueeze(2)).sum(-1).double()
    ties = ((top_values.unsqueeze(1) == pos_scores.unsqueeze(2)).sum(-1) - 1).clamp(min=0).double()
    # tied with the K-th score: the ties may run past the top-K, so count over the full row
    boundary = (pos_scores == last) & valid
    if boundary.any():
        r, c = boundary.nonzero(as_tuple=True)
        row, s = scores[r], pos_scores[r, c].unsqueeze(1)
        greater[r, c] = (row > s).sum(1).double()
        ties[r, c] = ((row == s).sum(1) - 1).clamp(min=0).double()
    # below the K-th score: at least K items are above it, so every metric @k <= K misses it
    below = pos_scores < last
    greater = torch.where(below, torch.full_like(greater, float(k)), greater)
    ties = torch.where(below, torch.zeros_like(ties), ties)
    return greater, ties


def _discount(r: torch.Tensor) -> torch.Tensor:
    return 1.0 / torch.log2(r + 2.0)


def _expected_over_ties(ranks: PositiveRanks, k: int, fn) -> torch.Tensor:
    """E[fn(rank) * 1{rank < k}] with rank uniform on {g, ..., g + t}."""
    g, t = ranks.greater, ranks.ties
    if not (t > 0).any():
        r = g
        return torch.where(r < k, fn(r), torch.zeros_like(r))
    max_t = int(t.max().item())
    total = torch.zeros_like(g)
    # sum over offsets 0..max_t, weighting each admissible offset by 1/(t+1)
    for off in range(0, min(max_t, k) + 1):
        r = g + off
        ok = (off <= t) & (r < k)
        total += torch.where(ok, fn(r), torch.zeros_like(r))
    return total / (t + 1)


def rank_metrics(ranks: PositiveRanks, ks: list[int] | tuple[int, ...]) -> dict[str, np.ndarray]:
    """Per-user vectors of Recall, Hit, NDCG, MRR, Precision and MAP at each K."""
    valid = ranks.valid.double()
    n_pos = valid.sum(1)
    if (n_pos == 0).any():
        raise ValueError("every evaluated user needs at least one positive item")
    out: dict[str, np.ndarray] = {}
    one = lambda r: torch.ones_like(r)  # noqa: E731
    # MRR and MAP need the order among a user's positives: sort by rank (expected ranks under ties)
    mid = ranks.greater + ranks.ties / 2
    mid = torch.where(ranks.valid, mid, torch.full_like(mid, math.inf))
    order = mid.argsort(dim=1)
    sorted_mid = mid.gather(1, order)
    for k in ks:
        hit_each = _expected_over_ties(ranks, k, one) * valid  # P(positive in top-k)
        dcg_each = _expected_over_ties(ranks, k, _discount) * valid
        hits = hit_each.sum(1)
        out[f"recall@{k}"] = (hits / n_pos).numpy()
        out[f"precision@{k}"] = (hits / k).numpy()
        # reciprocal rank of the best positive; under "expected" ties, the positive with the highest
        # expected reciprocal rank (exact for one positive per user)
        rr = (_expected_over_ties(ranks, k, lambda r: 1.0 / (r + 1.0)) * valid).max(dim=1).values
        if (ranks.ties > 0).any():  # P(at least one positive in top-k), positives taken independently
            hit_any = 1.0 - torch.prod(1.0 - hit_each.clamp(max=1.0) + (1 - valid), dim=1)
        else:
            hit_any = (hits > 0).double()
        out[f"hit@{k}"] = hit_any.numpy()
        out[f"mrr@{k}"] = rr.numpy()
        idcg = torch.tensor([sum(1.0 / math.log2(i + 2) for i in range(min(int(n), k))) for n in
                             range(int(n_pos.max().item()) + 1)], dtype=torch.float64)
        out[f"ndcg@{k}"] = (dcg_each.sum(1) / idcg[n_pos.long()]).numpy()
        # MAP@k: mean over hits of precision at the hit's rank, divided by min(n_pos, k)
        j = torch.arange(1, order.shape[1] + 1, dtype=torch.float64).expand_as(sorted_mid)
        # the j-th target cannot stand above place j (expected ranks of tied targets can: 0.5 and 0.5)
        sorted_mid = torch.maximum(sorted_mid, j - 1)
        in_k = (sorted_mid < k) & torch.isfinite(sorted_mid)
        prec_at_hit = torch.where(in_k, j / (sorted_mid + 1.0), torch.zeros_like(sorted_mid))
        out[f"map@{k}"] = (prec_at_hit.sum(1) / torch.clamp(n_pos, max=k)).numpy()
    return out
