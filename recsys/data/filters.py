"""Interaction filters: rating threshold, time window, duplicates, iterative k-core.

Each takes and returns a canonical DataFrame and is a pure function, so a recipe's
filters compose in the order written and the result is reproducible.
"""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

from recsys.data import schema as S
from recsys.errors import DataError

DEDUP_POLICIES = ("none", "first", "last")


def rating_threshold(df: pl.DataFrame, minimum: float) -> pl.DataFrame:
    """Keep interactions rated at least ``minimum`` (implicit feedback from explicit ratings)."""
    if S.RATING not in df.columns:
        raise DataError("rating_min is set but the data has no rating column", column=S.RATING,
                        hint="map a column to 'rating' in the recipe, or drop rating_min")
    return df.filter(pl.col(S.RATING) >= minimum)


def _to_epoch(value) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise DataError(f"time_window bound {value!r} is neither a number nor an ISO date") from exc
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def time_window(df: pl.DataFrame, start=None, end=None) -> pl.DataFrame:
    """Keep interactions with ``start <= timestamp < end`` (unix seconds or ISO dates)."""
    if S.TIME not in df.columns or df[S.TIME].null_count() == len(df):
        raise DataError("time_window is set but the data has no timestamps", column=S.TIME)
    cond = pl.lit(True)
    if start is not None:
        cond = cond & (pl.col(S.TIME) >= _to_epoch(start))
    if end is not None:
        cond = cond & (pl.col(S.TIME) < _to_epoch(end))
    return df.filter(cond)


def deduplicate(df: pl.DataFrame, keep: str = "first") -> pl.DataFrame:
    """Drop repeated (user, item) pairs, keeping the first or last in time order (or ``none``: keep all)."""
    if keep not in DEDUP_POLICIES:
        raise DataError(f"dedup must be one of {DEDUP_POLICIES}, got {keep!r}")
    if keep == "none":
        return df
    ordered = df.sort(time_keys(df), maintain_order=True)
    return ordered.unique(subset=[S.USER, S.ITEM], keep=keep, maintain_order=True)


def k_core(df: pl.DataFrame, user_core: int = 0, item_core: int = 0, max_rounds: int = 100) -> pl.DataFrame:
    """Iteratively drop users with < ``user_core`` and items with < ``item_core`` interactions until stable."""
    for _ in range(max_rounds):
        before = len(df)
        if item_core > 1:
            df = df.filter(pl.len().over(S.ITEM) >= item_core)
        if user_core > 1:
            df = df.filter(pl.len().over(S.USER) >= user_core)
        if len(df) == before:
            return df
    raise DataError(f"k-core filtering did not converge within {max_rounds} rounds")


def time_keys(df: pl.DataFrame, user: str = S.USER) -> list[str]:
    """Columns that order a user's interactions: the user column, timestamp (when present), raw order."""
    keys = [user]
    if S.TIME in df.columns and df[S.TIME].null_count() < len(df):
        keys.append(S.TIME)
    keys.append(S.ORDER)
    return keys
