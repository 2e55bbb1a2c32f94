"""Leakage checks' shared helper: a dataset whose held-out rows name other items, so a step that
reads the training split only gives the same output on both."""

import numpy as np
import polars as pl

from recsys.data import schema as S
from recsys.data.prepare import PreparedDataset


def held_out_shuffled(ds: PreparedDataset, seed: int = 0) -> PreparedDataset:
    """``ds`` with the items of every non-training row permuted among themselves (training rows as they were)."""
    other = PreparedDataset(ds.path)
    inter = ds.interactions
    held = (inter[S.SPLIT] != S.TRAIN).to_numpy()
    items = inter[S.ITEM_IDX].to_numpy().copy()
    items[held] = np.random.default_rng(seed).permutation(items[held])
    other.__dict__["interactions"] = inter.with_columns(pl.Series(S.ITEM_IDX, items))
    return other
