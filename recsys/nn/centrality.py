"""Betweenness centrality of a large sparse graph, from sampled sources (Brandes' algorithm).

DRGO's "nominal" reference set is the top few percent of nodes by betweenness on the training
graph. Exact betweenness costs O(nodes x edges); here a fixed number of sources is sampled and
all of them are processed at once: breadth-first levels and path counts by sparse
matrix-matrix products, then dependencies accumulated level by level back from the deepest.
With every node as a source the result equals the exact (unnormalised) betweenness.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def betweenness(adj: sp.spmatrix, sources: int | None = 256, seed: int = 0, batch: int = 64) -> np.ndarray:
    """Betweenness of every node of an unweighted, undirected graph (symmetric ``adj``).

    ``sources``: how many source nodes to sample (None: all, exact). Sampled sums are scaled by
    nodes / sources, so values estimate the exact unnormalised betweenness.
    """
    a = sp.csr_matrix(adj, dtype=np.float64)
    if (abs(a - a.T) > 0).nnz:
        raise ValueError("betweenness expects a symmetric adjacency (an undirected graph)")
    a.data[:] = 1.0
    n = a.shape[0]
    nodes = np.flatnonzero(np.diff(a.indptr) > 0)  # isolated nodes lie on no path
    if sources is None or sources >= len(nodes):
        chosen = nodes
    else:
        chosen = np.sort(np.random.default_rng(seed).choice(nodes, size=sources, replace=False))
    total = np.zeros(n)
    for start in range(0, len(chosen), batch):
        src = chosen[start: start + batch]
        total += _dependencies(a, src)
    scale = len(nodes) / max(len(chosen), 1)
    return total * scale / 2.0  # each unordered pair is counted from both ends


def _dependencies(a: sp.csr_matrix, src: np.ndarray) -> np.ndarray:
    """Sum over the given sources of Brandes' dependency of each node (source itself excluded)."""
    n, b = a.shape[0], len(src)
    cols = np.arange(b)
    dist = np.full((n, b), -1, dtype=np.int32)
    sigma = np.zeros((n, b))
    dist[src, cols] = 0
    sigma[src, cols] = 1.0
    depth = 0
    while True:
        frontier = np.where(dist == depth, sigma, 0.0)
        reach = a @ frontier
        new = (reach > 0) & (dist < 0)
        if not new.any():
            break
        dist[new] = depth + 1
        sigma[new] = reach[new]
        depth += 1
    delta = np.zeros((n, b))
    for d in range(depth, 0, -1):
        at_d = dist == d
        coef = np.where(at_d, (1.0 + delta) / np.where(at_d, sigma, 1.0), 0.0)
        back = a @ coef
        parents = dist == d - 1
        delta[parents] += sigma[parents] * back[parents]
    delta[src, cols] = 0.0
    return delta.sum(1)


def top_fraction(values: np.ndarray, fraction: float, candidates: np.ndarray | None = None) -> np.ndarray:
    """Indices of the top ``fraction`` of ``candidates`` (default: all) by value, highest first."""
    idx = np.arange(len(values)) if candidates is None else np.asarray(candidates)
    k = max(1, int(round(fraction * len(idx))))
    order = np.argsort(-values[idx], kind="stable")[:k]
    return idx[order]
