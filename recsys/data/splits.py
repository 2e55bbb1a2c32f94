"""Splits: leave-one-out, global temporal, random ratio, and given split files.

Each adds a ``split`` column (``train`` / ``valid`` / ``test``, plus any extra test
names given by split files, such as ``test_ood``). Leave-one-out follows the usual
sequential protocol: a user's last interaction is the test target, the one before
it the validation target, the rest train; users with two interactions give one to
train and one to test, users with one keep it in train.
"""

from __future__ import annotations

import polars as pl

from recsys.data import schema as S
from recsys.data.filters import time_keys
from recsys.errors import DataError

METHODS = ("leave_one_out", "temporal", "ratio", "given", "ood")


def leave_one_out(df: pl.DataFrame, order_by: str = "auto") -> pl.DataFrame:
    """The last interaction per user is test, the one before valid, the rest train."""
    if order_by == "timestamp":
        if S.TIME not in df.columns or df[S.TIME].null_count():
            raise DataError("order_by = 'timestamp' but some interactions have no timestamp", column=S.TIME,
                            hint="use order_by = 'order' (file order) for datasets without timestamps")
        keys = [S.USER, S.TIME, S.ORDER]
    elif order_by == "order":
        keys = [S.USER, S.ORDER]
    elif order_by == "auto":
        keys = time_keys(df)
    else:
        raise DataError(f"order_by must be 'timestamp', 'order' or 'auto', got {order_by!r}")
    df = df.sort(keys, maintain_order=True)
    rank_from_end = pl.int_range(pl.len(), 0, -1).over(S.USER)  # n, n-1, ..., 1
    n = pl.len().over(S.USER)
    split = (
        pl.when(rank_from_end == 1).then(pl.when(n >= 2).then(pl.lit(S.TEST)).otherwise(pl.lit(S.TRAIN)))
        .when((rank_from_end == 2) & (n >= 3)).then(pl.lit(S.VALID))
        .otherwise(pl.lit(S.TRAIN))
    )
    return df.with_columns(split.alias(S.SPLIT))


def temporal(df: pl.DataFrame, valid: float = 0.1, test: float = 0.1) -> pl.DataFrame:
    """Global time split: the latest ``test`` share of interactions is test, the ``valid`` share before it valid."""
    if S.TIME not in df.columns or df[S.TIME].null_count():
        raise DataError("a temporal split needs a timestamp on every interaction", column=S.TIME)
    _check_shares(valid, test)
    t_valid = df[S.TIME].quantile(1 - valid - test, "lower")
    t_test = df[S.TIME].quantile(1 - test, "lower")
    split = (pl.when(pl.col(S.TIME) > t_test).then(pl.lit(S.TEST))
             .when(pl.col(S.TIME) > t_valid).then(pl.lit(S.VALID)).otherwise(pl.lit(S.TRAIN)))
    return df.sort(time_keys(df), maintain_order=True).with_columns(split.alias(S.SPLIT))


def ratio(df: pl.DataFrame, valid: float = 0.1, test: float = 0.1, seed: int = 2024,
          per_user: bool = False) -> pl.DataFrame:
    """Random split by shares, over all interactions or within each user, with a fixed seed."""
    _check_shares(valid, test)
    df = df.sort(time_keys(df), maintain_order=True)
    u = pl.Series("u", _uniform(len(df), seed))
    df = df.with_columns(u)
    if per_user:
        pos = (pl.col("u").rank("ordinal").over(S.USER) - 1) / pl.len().over(S.USER)
    else:
        pos = (pl.col("u").rank("ordinal") - 1) / pl.len()
    split = (pl.when(pos >= 1 - test).then(pl.lit(S.TEST))
             .when(pos >= 1 - test - valid).then(pl.lit(S.VALID)).otherwise(pl.lit(S.TRAIN)))
    return df.with_columns(split.alias(S.SPLIT)).drop("u")


def _uniform(n: int, seed: int):
    import numpy as np

    return np.random.default_rng(seed).random(n)


def _check_shares(valid: float, test: float) -> None:
    if not (0 <= valid < 1 and 0 < test < 1 and valid + test < 1):
        raise DataError(f"split shares must satisfy 0 <= valid, 0 < test, valid + test < 1; got valid={valid}, test={test}")


def given(parts: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Concatenate given split files, labelled by their split name (``train``, ``valid``, ``test``, ``test_ood``...)."""
    if S.TRAIN not in parts:
        raise DataError(f"given split files must include 'train'; got {sorted(parts)}")
    frames = [df.with_columns(pl.lit(name).alias(S.SPLIT)) for name, df in parts.items()]
    return pl.concat(frames, how="diagonal_relaxed")
