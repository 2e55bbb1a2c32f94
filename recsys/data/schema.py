"""The canonical interaction and item schema every reader produces.

Raw ids stay strings (``user_id``, ``item_id``); preparation adds dense integer
indices (``user_idx``, ``item_idx``) starting at 1, so that 0 can be padding, as in
RecBole. ``order`` is the position of an interaction in the raw data of its user and
is the time axis for datasets without timestamps (the S3Rec files, Tri-CDR).
"""

from __future__ import annotations

import polars as pl

USER = "user_id"
ITEM = "item_id"
TIME = "timestamp"
ORDER = "order"
RATING = "rating"
DOMAIN = "domain"
SCENARIO = "scenario"
LABEL = "label"
SPLIT = "split"
USER_IDX = "user_idx"
ITEM_IDX = "item_idx"

#: Columns a reader may produce, with their types. user/item/order are always present.
INTERACTION_SCHEMA: dict[str, pl.DataType] = {
    USER: pl.String,
    ITEM: pl.String,
    TIME: pl.Float64,
    ORDER: pl.Int64,
    RATING: pl.Float64,
    DOMAIN: pl.String,
    SCENARIO: pl.String,
    LABEL: pl.Float64,
}

#: Item text fields, in the order they are assembled into the item's ``text``.
TEXT_FIELDS = ("title", "brand", "categories", "keywords", "description")

#: Split labels. Given split files may add more (e.g. ``test_ood``), all starting with test/valid.
TRAIN, VALID, TEST = "train", "valid", "test"


def canonical(df: pl.DataFrame) -> pl.DataFrame:
    """Cast known columns to their canonical types and put them first; keep extra feature columns."""
    casts = [pl.col(name).cast(dtype) for name, dtype in INTERACTION_SCHEMA.items() if name in df.columns]
    df = df.with_columns(casts)
    if ORDER not in df.columns:
        df = df.with_columns(pl.int_range(pl.len()).over(USER).cast(pl.Int64).alias(ORDER))
    known = [c for c in INTERACTION_SCHEMA if c in df.columns]
    return df.select(known + [c for c in df.columns if c not in INTERACTION_SCHEMA])
