"""Item co-occurrence neighbours from training sequences (positive PMI within a window).

H2Rec's item-level alignment treats an item's strongest co-occurrence neighbours as extra
positives. They must come from **training** interactions only: the official code counts
validation and test items too, which leaks the held-out item into training.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.data.tensors import Ragged


def ppmi_neighbours(train: Ragged, n_items: int, window: int = 3, min_count: int = 2, top: int = 50,
                    floor: float = 0.3) -> sp.csr_matrix:
    """[n_items + 1, n_items + 1] sparse weights: for each item its ``top`` neighbours by PPMI.

    Pairs are counted (symmetrically) when two items are at most ``window`` positions apart in
    one user's training sequence; pairs seen fewer than ``min_count`` times are dropped; each
    row's kept PPMI values are rescaled to [``floor``, 1] (a row with one value gets 1).
    """
    items, indptr = train.items, train.indptr
    user_of = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    size = n_items + 1
    rows, cols = [], []
    for offset in range(1, window + 1):
        same = user_of[offset:] == user_of[:-offset]
        a, b = items[:-offset][same], items[offset:][same]
        keep = a != b
        rows += [a[keep], b[keep]]
        cols += [b[keep], a[keep]]
    if not rows or sum(len(r) for r in rows) == 0:
        return sp.csr_matrix((size, size), dtype=np.float32)
    r, c = np.concatenate(rows), np.concatenate(cols)
    counts = sp.coo_matrix((np.ones(len(r), dtype=np.float64), (r, c)), shape=(size, size)).tocsr()
    counts.sum_duplicates()
    total = counts.sum()
    marginal = np.asarray(counts.sum(1)).ravel()
    coo = counts.tocoo()
    keep = coo.data >= min_count
    i, j, n = coo.row[keep], coo.col[keep], coo.data[keep]
    pmi = np.log(n * total / (marginal[i] * marginal[j]))
    pos = pmi > 0
    i, j, pmi = i[pos], j[pos], pmi[pos]
    # top-k per row: sort by (row, -pmi), keep the first ``top`` of each row
    order = np.lexsort((-pmi, i))
    i, j, pmi = i[order], j[order], pmi[order]
    starts = np.searchsorted(i, i, side="left")
    rank = np.arange(len(i)) - starts
    keep = rank < top
    i, j, pmi = i[keep], j[keep], pmi[keep]
    # rescale each row to [floor, 1]
    lo = np.full(size, np.inf)
    hi = np.full(size, -np.inf)
    np.minimum.at(lo, i, pmi)
    np.maximum.at(hi, i, pmi)
    span = hi[i] - lo[i]
    w = np.where(span > 0, floor + (1 - floor) * (pmi - lo[i]) / np.where(span > 0, span, 1), 1.0)
    return sp.csr_matrix((w.astype(np.float32), (i, j)), shape=(size, size))
