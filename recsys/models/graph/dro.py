"""Group distributionally robust training pieces used by DRGO.

- ``user_groups``: k-means (k-means++ start, Lloyd) on a truncated SVD of the training
  user x item matrix, so the groups are collaborative, not arbitrary.
- ``GroupWeights``: the adversary's weights over groups, updated by exponentiated gradient on
  smoothed per-group losses with an entropy regulariser on the weights themselves (the paper's
  point: without it the worst case piles onto a few, often noisy, groups). The fixed point of
  the update is softmax(smoothed loss / entropy_weight).
- ``sinkhorn_cost``: entropic optimal transport between two point clouds; the plan is computed
  without gradients and the cost <P, C> is differentiated through C only.
- ``sinkhorn_potentials``: the same transport with weighted sources; its source potentials enter
  the adversary's step (``GroupWeights.update(transport=...)``), which is where the paper puts the
  OT distance: it bounds how far the worst case may move from the nominal distribution.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import svds


def user_groups(inter: sp.spmatrix, k: int = 5, rank: int = 16, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """A group id per user row of ``inter`` (users without interactions get group 0)."""
    r = sp.csr_matrix(inter, dtype=np.float64)
    active = np.flatnonzero(np.diff(r.indptr) > 0)
    groups = np.zeros(r.shape[0], dtype=np.int64)
    if len(active) <= k:
        groups[active] = np.arange(len(active))
        return groups
    rank = max(1, min(rank, min(r.shape) - 1))
    rng = np.random.default_rng(seed)
    u, s, _ = svds(r[active], k=rank, v0=rng.random(min(r[active].shape)))
    x = u * s
    x /= np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):  # k-means++
        d = np.min([((x - c) ** 2).sum(1) for c in centres], axis=0)
        centres.append(x[rng.choice(len(x), p=d / d.sum())] if d.sum() > 0 else x[rng.integers(len(x))])
    c = np.array(centres)
    for _ in range(iterations):
        label = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
        new = np.array([x[label == j].mean(0) if (label == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    groups[active] = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
    return groups


class GroupWeights(torch.nn.Module):
    """w_g <- w_g^(1 - eta * lam) * exp(eta * smoothed L_g), normalised (mirror ascent on sum w L + lam H(w))."""

    def __init__(self, k: int, step_size: float = 1e-3, entropy_weight: float = 0.1, smoothing: float = 0.1):
        super().__init__()
        self.step_size, self.entropy_weight, self.smoothing = step_size, entropy_weight, smoothing
        self.register_buffer("weights", torch.full((k,), 1.0 / k))
        self.register_buffer("smoothed", torch.zeros(k))
        self.register_buffer("seen", torch.zeros(k, dtype=torch.bool))

    def update(self, losses: torch.Tensor, present: torch.Tensor, transport: torch.Tensor | None = None) -> None:
        """One mirror-ascent step. ``transport`` (per group, optional): the group's transport potential to the
        nominal distribution, subtracted from its loss: the ambiguity set around the nominal distribution
        (the OT distance's role in the paper), so the adversary cannot up-weight groups that lie far from it
        for free. The fixed point is softmax((smoothed L - transport) / entropy_weight)."""
        losses = losses.detach()
        first = present & ~self.seen
        self.smoothed[first] = losses[first]
        later = present & self.seen
        self.smoothed[later] += self.smoothing * (losses[later] - self.smoothed[later])
        self.seen |= present
        gain = self.smoothed if transport is None else self.smoothed - transport.detach()
        log_w = (1 - self.step_size * self.entropy_weight) * self.weights.log() + self.step_size * gain
        self.weights.copy_(torch.softmax(log_w, 0))

    def entropy(self) -> float:
        return float(-(self.weights * self.weights.log()).sum())


def _transport_plan(cost: torch.Tensor, a: torch.Tensor, epsilon: float, iterations: int):
    """(plan, f): entropic OT plan between sources weighted ``a`` and uniform targets for ``cost``, and the
    source potential ``f`` (log-domain Sinkhorn, in cost units). No gradients."""
    with torch.no_grad():
        log_a = a.clamp(min=1e-12).log()
        log_b = torch.full((cost.shape[1],), -np.log(cost.shape[1]))
        f, g = torch.zeros(cost.shape[0]), torch.zeros(cost.shape[1])
        k = -cost / epsilon
        for _ in range(iterations):
            f = epsilon * (log_a - torch.logsumexp(k + g[None, :] / epsilon, dim=1))
            g = epsilon * (log_b - torch.logsumexp(k + f[:, None] / epsilon, dim=0))
        return torch.exp(k + f[:, None] / epsilon + g[None, :] / epsilon), f


def _cosine_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 1.0 - torch.nn.functional.normalize(x, dim=-1) @ torch.nn.functional.normalize(y, dim=-1).T


def sinkhorn_cost(x: torch.Tensor, y: torch.Tensor, epsilon: float = 0.05, iterations: int = 50) -> torch.Tensor:
    """Entropic OT cost between uniform clouds ``x`` [n, d] and ``y`` [m, d] with cost 1 - cosine."""
    cost = _cosine_cost(x, y)
    plan, _ = _transport_plan(cost.detach(), torch.full((len(x),), 1.0 / len(x)), epsilon, iterations)
    return (plan * cost).sum()


def sinkhorn_potentials(x: torch.Tensor, y: torch.Tensor, a: torch.Tensor, epsilon: float = 0.05,
                        iterations: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """(f, cost): entropic OT between ``x`` [n, d] weighted ``a`` (sums to 1) and ``y`` [m, d] uniform, cost
    1 - cosine; ``f`` [n] is the source potential (centred), the gradient of the OT cost in ``a``: how much
    it costs to move mass onto each source point. No gradients (the adversary's step uses them)."""
    with torch.no_grad():
        cost = _cosine_cost(x, y)
        plan, f = _transport_plan(cost, a, epsilon, iterations)
        return f - f.mean(), (plan * cost).sum()
