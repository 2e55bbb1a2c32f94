"""Beyond-accuracy metrics of the top-K lists: coverage, Gini, average popularity, tail share.

Popularity is the number of training interactions of an item. Head items are the most
popular 20% of the catalogue (by training interactions); everything else is tail.
"""

from __future__ import annotations

import numpy as np
import torch

HEAD_SHARE = 0.2


def head_items(popularity: np.ndarray, share: float = HEAD_SHARE) -> np.ndarray:
    """Boolean mask over item indices (0 = padding, never head) of the most popular ``share``."""
    pop = popularity.astype(float).copy()
    pop[0] = -1
    n_items = len(pop) - 1
    n_head = max(1, int(round(share * n_items)))
    order = np.argsort(-pop, kind="stable")[:n_head]
    mask = np.zeros(len(pop), dtype=bool)
    mask[order] = True
    return mask


def beyond_metrics(top: torch.Tensor, popularity: np.ndarray, k: int) -> dict[str, float]:
    """``top``: [U, >=k] recommended item indices (all users of the evaluation)."""
    rec = top[:, :k].numpy()
    n_items = len(popularity) - 1
    counts = np.bincount(rec.ravel(), minlength=n_items + 1)[1:].astype(float)
    c = np.sort(counts)
    idx = np.arange(1, n_items + 1)
    gini = float(((2 * idx - n_items - 1) * c).sum() / (n_items * c.sum())) if c.sum() else 0.0
    head = head_items(popularity)
    return {
        f"item_coverage@{k}": float((counts > 0).sum() / n_items),
        f"gini@{k}": gini,
        f"avg_popularity@{k}": float(popularity[rec].mean()),
        f"tail_share@{k}": float((~head[rec]).mean()),
    }
