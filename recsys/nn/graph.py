"""LightGCN propagation over the training user-item graph.

The adjacency is built from ``dataset.inter_matrix()``, which in our pipeline and in RecBole's
holds the training interactions only, so no validation or test edge can reach a propagated
embedding. Indices follow RecBole's convention (row/column 0 is padding and has no edges).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def bipartite_adjacency(inter: sp.spmatrix) -> sp.csr_matrix:
    """The symmetric (users + items) x (users + items) 0/1 adjacency of a user x item matrix."""
    r = sp.csr_matrix(inter, dtype=np.float32)
    r.data[:] = 1.0
    return sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)


def normalized_adjacency(inter: sp.spmatrix) -> torch.Tensor:
    """D^-1/2 A D^-1/2 of the bipartite graph as a coalesced torch sparse tensor; isolated nodes stay 0."""
    a = bipartite_adjacency(inter).tocoo()
    degree = np.asarray(a.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(degree)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    values = inv_sqrt[a.row] * a.data * inv_sqrt[a.col]
    indices = torch.from_numpy(np.vstack([a.row, a.col]).astype(np.int64))
    return torch.sparse_coo_tensor(indices, torch.from_numpy(values.astype(np.float32)), a.shape,
                                   check_invariants=False).coalesce()


def propagate(adj: torch.Tensor, embeddings: torch.Tensor, layers: int) -> torch.Tensor:
    """LightGCN: the mean of the embeddings after 0..layers multiplications by ``adj``."""
    out = [embeddings]
    x = embeddings
    for _ in range(layers):
        x = torch.sparse.mm(adj, x)
        out.append(x)
    return torch.stack(out).mean(0)


class LightGCNEncoder(torch.nn.Module):
    """User and item ID embeddings propagated by LightGCN; ``forward()`` returns (users, items).

    In eval mode the propagated embeddings are computed once and kept until the module is put
    back into training mode (full-sort evaluation calls ``forward()`` once per batch of users).
    """

    def __init__(self, inter: sp.spmatrix, dim: int = 64, layers: int = 2):
        super().__init__()
        self.n_users, self.n_items = inter.shape
        self.layers = layers
        self.user = torch.nn.Embedding(self.n_users, dim)
        self.item = torch.nn.Embedding(self.n_items, dim)
        torch.nn.init.xavier_uniform_(self.user.weight)
        torch.nn.init.xavier_uniform_(self.item.weight)
        self.register_buffer("adj", normalized_adjacency(inter), persistent=False)
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def train(self, mode: bool = True):
        self._cache = None  # weights are about to change (or just changed)
        return super().train(mode)

    def ego(self) -> torch.Tensor:
        """The layer-0 embeddings of every node: users first, then items."""
        return torch.cat([self.user.weight, self.item.weight])

    def _propagate(self, transform=None) -> tuple[torch.Tensor, torch.Tensor]:
        x0 = self.ego()
        x = propagate(self.adj, transform(x0) if transform is not None else x0, self.layers)
        return x[: self.n_users], x[self.n_users:]

    def forward(self, transform=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(users, items) after propagation; ``transform`` maps the layer-0 embeddings first (DRGO's denoiser)."""
        if self.training:
            return self._propagate(transform)
        if self._cache is None:
            with torch.no_grad():
                self._cache = self._propagate(transform)
        return self._cache

    def l2(self, user: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """Squared L2 norm of the batch's ID (layer-0) embeddings, per training triple."""
        return (self.user(user).pow(2).sum() + self.item(pos).pow(2).sum() + self.item(neg).pow(2).sum()) / len(user)
