"""Training losses whose candidates are the target's own domain (cross-domain sequential recommendation).

Evaluation ranks each target among its domain's items only (``recsys.eval.domains``), so a
cross-domain comparison trains every model against the same candidates, under one of two objectives
(issue 26, docs/fair-comparisons.md):

- ``bce``: binary cross-entropy of the target against ``k`` negatives drawn uniformly from its domain
  (the LLM4CDSR / LLM-EDT papers' loss, ``k = 1``);
- ``ce``: softmax cross-entropy over the target domain's items (the full-softmax counterpart; the
  catalogue-wide softmax of a plain SASRec also pushes down the other domain's items, which
  evaluation never ranks against the target).

``DomainCandidates`` holds the per-domain item pools; scores come from a callback, so each model
scores candidates its own way (one table, two thread terms, ...).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

#: objectives over the target domain's candidates
DOMAIN_OBJECTIVES = ("bce", "ce")
#: (family, description) recorded with a run; families differ from the catalogue-wide ones on purpose
FAMILIES = {"bce": "bce-domain", "ce": "softmax-ce-domain"}


def describe(objective: str, negatives: int = 1) -> tuple[str, str]:
    """(loss family, description) of a target-domain objective, as recorded with a run."""
    if objective not in DOMAIN_OBJECTIVES:
        raise ValueError(f"objective must be one of {DOMAIN_OBJECTIVES}, got {objective!r}")
    if objective == "bce":
        return FAMILIES["bce"], f"binary cross-entropy, {negatives} target-domain negative(s) per position"
    return FAMILIES["ce"], "softmax cross-entropy over the target domain's items"


class DomainCandidates:
    """Item pools per domain. ``codes``: domain code of each item index (-1: padding / no domain)."""

    def __init__(self, codes: np.ndarray):
        codes = np.asarray(codes, dtype=np.int64)
        if codes.max(initial=-1) < 0:
            raise ValueError("DomainCandidates needs at least one item with a domain code >= 0")
        self.codes = torch.from_numpy(codes)
        self.pools = [torch.from_numpy(np.flatnonzero(codes == d)) for d in range(int(codes.max()) + 1)]
        position = np.full(len(codes), -1, dtype=np.int64)
        for pool in self.pools:
            position[pool.numpy()] = np.arange(len(pool))
        self.position = torch.from_numpy(position)  # index of each item within its domain's pool

    def negatives(self, targets: torch.Tensor, gen: torch.Generator | None = None, k: int = 1) -> torch.Tensor:
        """Uniform negatives from each target's domain: ``[n]`` for ``k = 1``, else ``[n, k]``.
        (A negative may equal the target with probability 1/|domain|, as in the papers' samplers.)"""
        domains = self.codes[targets.cpu()]
        out = torch.zeros((len(targets), k), dtype=torch.long)
        for d, pool in enumerate(self.pools):
            rows = domains == d
            if rows.any() and len(pool):
                out[rows] = pool[torch.randint(0, len(pool), (int(rows.sum()), k), generator=gen)]
        out = out.to(targets.device)
        return out[:, 0] if k == 1 else out

    def softmax_ce(self, logits: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                   targets: torch.Tensor) -> torch.Tensor:
        """Mean softmax cross-entropy over each target's domain.

        ``logits(rows, items)``: scores ``[rows.sum(), len(items)]`` of the targets selected by the bool
        mask ``rows`` against ``items`` (one domain's pool).
        """
        domains = self.codes[targets.cpu()].to(targets.device)
        total = targets.new_zeros((), dtype=torch.float32)
        for d, pool in enumerate(self.pools):
            rows = domains == d
            if not rows.any():
                continue
            scores = logits(rows, pool.to(targets.device))
            total = total + F.cross_entropy(scores.float(), self.position[targets[rows].cpu()].to(targets.device),
                                            reduction="sum")
        return total / max(len(targets), 1)


def bce_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """BCE of positives ``[n]`` against their negatives ``[n]`` or ``[n, k]``: the positive term plus the
    sum over negatives, mean per target (with one negative: the sum of both terms)."""
    pos_term = F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
    neg_terms = F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg), reduction="none")
    if neg_terms.dim() == 2:
        neg_terms = neg_terms.sum(1)
    return pos_term + neg_terms.mean()
