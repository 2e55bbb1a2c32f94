"""Sampled losses for catalogues too large for the full softmax.

- ``sampled_softmax``: a softmax over a shared candidate set, the batch's own targets (in-batch
  negatives) plus ``m`` items drawn uniformly or by popularity, with the log-Q correction (Yi et al.,
  RecSys 2019; Bengio & Senecal 2008): each candidate's logit minus the log of its expected number of
  draws, so the sampled softmax estimates the full one without favouring popular items. The
  candidates are de-duplicated, so a target appears once and no accidental hit is counted as a
  negative.
- ``gbce``: generalised binary cross-entropy of gSASRec (Petrov & Macdonald, RecSys 2023): ``k``
  uniform negatives per target and the positive's probability raised to ``beta = alpha (t (1 - 1/alpha)
  + 1/alpha)``, with ``alpha = k / (|I| - 1)`` the sampling rate and ``t`` the calibration (0.75 in
  the paper); it counters the over-confidence that negative sampling gives BCE.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DISTRIBUTIONS = ("uniform", "popularity")


def sampled_softmax(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, n_sampled: int,
                    gen: torch.Generator | None, distribution: str = "uniform",
                    probs: torch.Tensor | None = None) -> torch.Tensor:
    """Mean sampled-softmax loss of [targets x d] hidden states against in-batch + sampled candidates.

    ``weight``: [items x d] with row 0 padding (never a candidate). ``probs``: each item's sampling
    probability (``item_probabilities``; None: uniform), for ``distribution="popularity"`` and for the
    in-batch correction. Computed once per training run, not per batch.
    """
    n_items = weight.shape[0] - 1
    probs = item_probabilities(n_items).to(targets.device) if probs is None else probs.to(targets.device)
    drawn = _draw(n_sampled, n_items, distribution, probs, gen).to(targets.device)
    candidates, label = torch.unique(torch.cat([targets, drawn]), return_inverse=True)
    label = label[: len(targets)]
    # expected draws of each candidate: in-batch (one draw per target, by popularity) + the sampled ones
    q_batch = len(targets) * probs[candidates]
    q_sampled = n_sampled * (probs[candidates] if distribution == "popularity" else torch.full_like(
        q_batch, 1.0 / n_items))
    log_q = torch.log(q_batch + q_sampled)
    logits = (h @ weight[candidates].T).float() - log_q
    return F.cross_entropy(logits, label)


def gbce(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, n_negatives: int,
         gen: torch.Generator | None, t: float = 0.75) -> torch.Tensor:
    """gSASRec's gBCE with ``n_negatives`` uniform negatives per target (mean over targets)."""
    n_items = weight.shape[0] - 1
    neg = torch.randint(1, n_items + 1, (len(targets), n_negatives), generator=gen).to(targets.device)
    pos_logit = (h * weight[targets]).sum(-1).float()
    neg_logit = torch.einsum("nd,nkd->nk", h, weight[neg]).float()
    alpha = n_negatives / max(n_items - 1, 1)
    beta = alpha * (t * (1 - 1 / alpha) + 1 / alpha)
    pos_term = -beta * F.logsigmoid(pos_logit)  # log(sigmoid(s)^beta)
    neg_term = -F.logsigmoid(-neg_logit).sum(-1)
    return (pos_term + neg_term).mean()


def item_probabilities(n_items: int, popularity: torch.Tensor | None = None) -> torch.Tensor:
    """Sampling probability of each item id (0: padding, never drawn): uniform, or from training counts."""
    if popularity is None:
        probs = torch.full((n_items + 1,), 1.0 / n_items)
    else:
        counts = popularity.to(torch.float64) + 1e-3  # an unseen item keeps a tiny probability: finite log-Q
        counts[0] = 0
        probs = (counts / counts.sum()).float()
    probs[0] = 0
    return probs


def _draw(n: int, n_items: int, distribution: str, probs: torch.Tensor, gen) -> torch.Tensor:
    if distribution == "uniform":
        return torch.randint(1, n_items + 1, (n,), generator=gen)
    if distribution == "popularity":
        return torch.multinomial(probs.cpu(), n, replacement=True, generator=gen)
    raise ValueError(f"sampled_distribution must be one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}")
