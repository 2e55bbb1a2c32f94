"""Context (CTR) data: side-feature joins, a binary label, a scenario field, sparse and dense features.

A CTR or multi-scenario recipe may carry a ``[context]`` table (format in docs/datasets.md):

- ``join``: side tables (a user file, an item file) joined on ``user_id`` or ``item_id``;
  ``columns`` maps feature names to the file's columns, ``first_token`` keeps a list
  column's first entry (a movie's first genre), ``extract`` takes a regex group (a year in a title);
- ``label``: a column that already is 0/1, or ``{ column = "rating", above = 3 }``;
- ``scenario``: a column, binned (``bins`` + ``names``, e.g. age groups) or grouped
  (``groups`` = {scenario: [values]}, the rest ``other``);
- ``sparse`` / ``dense``: the feature columns; without them every extra column is a
  feature, integer-looking or text columns sparse, other numeric ones dense;
- ``groups``: columns whose values also get their own CTR metrics (e.g. gender, for GPRec).

The result keeps features as columns of the interactions table (sparse as strings, dense as
floats); ``meta.json`` records which is which (``context_fields``), read by ``ContextTensors``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import polars as pl

from recsys.data import readers
from recsys.data import schema as S
from recsys.errors import DataError, RecipeError, check_section_keys

CONTEXT_KEYS = {"join", "label", "scenario", "sparse", "dense", "groups"}
JOIN_KEYS = {"file", "format", "key", "on", "columns", "first_token", "extract", "names", "encoding"}
CORE = {S.USER, S.ITEM, S.TIME, S.ORDER, S.RATING, S.DOMAIN, S.SCENARIO, S.LABEL, S.SPLIT}


def validate_context(spec: dict, files: dict, recipe: Path) -> None:
    """Structural checks with the recipe file and the key named."""

    check_section_keys(spec, CONTEXT_KEYS, recipe, "context.")
    for i, join in enumerate(spec.get("join", [])):
        check_section_keys(join, JOIN_KEYS, recipe, f"context.join[{i}].")
        for need in ("file", "key", "columns"):
            if need not in join:
                raise RecipeError("missing key", recipe=recipe, key=f"context.join[{i}].{need}")
        if join["file"] not in files:
            raise RecipeError(f"names file {join['file']!r}, which is not under [files]", recipe=recipe,
                              key=f"context.join[{i}].file")
        if join["key"] not in (S.USER, S.ITEM):
            raise RecipeError(f"key must be 'user_id' or 'item_id', got {join['key']!r}", recipe=recipe,
                              key=f"context.join[{i}].key")
    label = spec.get("label")
    if isinstance(label, dict) and ("column" not in label or "above" not in label):
        raise RecipeError("label needs both 'column' and 'above' (label = column > above)", recipe=recipe,
                          key="context.label")
    scen = spec.get("scenario")
    if isinstance(scen, dict):
        if "column" not in scen:
            raise RecipeError("missing key", recipe=recipe, key="context.scenario.column")
        if "bins" in scen and len(scen.get("names", [])) != len(scen["bins"]) + 1:
            raise RecipeError(f"{len(scen['bins'])} bins need {len(scen['bins']) + 1} names", recipe=recipe,
                              key="context.scenario.names")
        if "bins" not in scen and "groups" not in scen:
            raise RecipeError("give 'bins' (numeric column) or 'groups' (categorical column)", recipe=recipe,
                              key="context.scenario")


def join_files(spec: dict) -> list[str]:
    return [j["file"] for j in spec.get("join", [])]


def _read_side(path: Path, join: dict) -> pl.DataFrame:
    fmt = join.get("format", "csv")
    if fmt == "dat":  # '::'-separated, no header (MovieLens 1M)
        return readers.dat_frame(path, join.get("names"), join.get("encoding", "utf-8"))
    return readers._read_table_raw(path, fmt)


def _apply_join(df: pl.DataFrame, join: dict, path: Path) -> pl.DataFrame:
    side = _read_side(path, join)
    on = join.get("on", join["key"])
    wanted = {on, *join["columns"].values()}
    missing = [c for c in wanted if c not in side.columns]
    if missing:
        raise DataError(f"column not found; the file has {side.columns}", path=path, column=missing[0],
                        hint="fix 'on' / 'columns' of this join under [context] in the recipe")
    side = side.select(pl.col(on).cast(pl.String).str.strip_chars().alias(join["key"]),
                       *[pl.col(src).cast(pl.String).alias(name) for name, src in join["columns"].items()])
    for name, sep in join.get("first_token", {}).items():
        side = side.with_columns(pl.col(name).str.split(sep).list.first().alias(name))
    for name, pattern in join.get("extract", {}).items():
        side = side.with_columns(pl.col(name).str.extract(pattern, 1).alias(name))
    dup = side[join["key"]].is_duplicated()
    if dup.any():
        raise DataError(f"{join['key']} {side[join['key']][int(dup.arg_max())]!r} appears twice", path=path,
                        column=on, hint="a side table needs one row per key")
    clash = [c for c in join["columns"] if c in df.columns]
    if clash:
        raise DataError(f"feature {clash[0]!r} already exists in the interactions", path=path, column=clash[0],
                        hint="rename it in this join's 'columns'")
    return df.join(side, on=join["key"], how="left", maintain_order="left")


def _label(df: pl.DataFrame, spec, recipe: Path) -> pl.DataFrame:
    if isinstance(spec, dict):
        col = S.RATING if spec["column"] == "rating" and S.RATING in df.columns else spec["column"]
        if col not in df.columns:
            raise RecipeError(f"label column {spec['column']!r} not found; columns: {df.columns}", recipe=recipe,
                              key="context.label.column")
        values = df[col].cast(pl.Float64, strict=False)
        return df.with_columns((values > float(spec["above"])).cast(pl.Float64).alias(S.LABEL))
    if isinstance(spec, str):
        if spec not in df.columns:
            raise RecipeError(f"label column {spec!r} not found; columns: {df.columns}", recipe=recipe,
                              key="context.label")
        df = df.with_columns(pl.col(spec).cast(pl.Float64, strict=False).alias(S.LABEL))
    if S.LABEL not in df.columns:
        raise RecipeError("a CTR dataset needs a label: map a column to 'label' or set [context] label",
                          recipe=recipe, key="context.label")
    bad = df.filter(~pl.col(S.LABEL).is_in([0.0, 1.0]) | pl.col(S.LABEL).is_null())
    if len(bad):
        raise RecipeError(f"labels must be 0 or 1; found {bad[S.LABEL][0]!r} ({len(bad)} rows)", recipe=recipe,
                          key="context.label", hint="derive it with label = { column = \"...\", above = ... }")
    return df


def _scenario(df: pl.DataFrame, spec, recipe: Path) -> pl.DataFrame:
    if spec is None:
        return df
    if isinstance(spec, str):
        return df.with_columns(pl.col(spec).cast(pl.String).alias(S.SCENARIO))
    col = spec["column"]
    if col not in df.columns:
        raise RecipeError(f"scenario column {col!r} not found; columns: {df.columns}", recipe=recipe,
                          key="context.scenario.column")
    if "bins" in spec:
        values = df[col].cast(pl.Float64, strict=False)
        if values.null_count():
            raise RecipeError(f"scenario column {col!r} has {values.null_count()} non-numeric or missing values",
                              recipe=recipe, key="context.scenario.column")
        expr = pl.lit(spec["names"][-1])
        for edge, name in reversed(list(zip(spec["bins"], spec["names"]))):
            expr = pl.when(values < float(edge)).then(pl.lit(name)).otherwise(expr)
        return df.with_columns(expr.alias(S.SCENARIO))
    mapping = {str(v): name for name, vals in spec["groups"].items() for v in vals}
    other = spec.get("other", "other")
    return df.with_columns(pl.col(col).cast(pl.String).replace_strict(mapping, default=other).alias(S.SCENARIO))


def _is_integer_like(s: pl.Series) -> bool:
    v = s.drop_nulls().cast(pl.String).str.strip_chars()
    return len(v) > 0 and bool(v.str.contains(r"^-?\d+$").all())


def _infer_fields(df: pl.DataFrame) -> tuple[list[str], list[str]]:
    sparse, dense = [S.USER, S.ITEM], []
    for c in df.columns:
        if c in CORE:
            continue
        s = df[c]
        numeric = s.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
        if numeric.null_count() == s.null_count() and not _is_integer_like(s):
            dense.append(c)
        else:
            sparse.append(c)
    return sparse, dense


def apply_context(df: pl.DataFrame, spec: dict, recipe: Path, path_of: Callable[[str], Path]) -> tuple[pl.DataFrame, dict]:
    """Joins, label, scenario, feature typing; returns the table and ``context_fields`` for meta.json."""
    for join in spec.get("join", []):
        df = _apply_join(df, join, path_of(join["file"]))
    df = _label(df, spec.get("label"), recipe)
    df = _scenario(df, spec.get("scenario"), recipe)
    if "sparse" in spec or "dense" in spec:
        sparse, dense = list(spec.get("sparse", [S.USER, S.ITEM])), list(spec.get("dense", []))
    else:
        sparse, dense = _infer_fields(df)
    for key, cols in (("sparse", sparse), ("dense", dense), ("groups", spec.get("groups", []))):
        for c in cols:
            if c not in df.columns:
                raise RecipeError(f"feature {c!r} is not a column; columns: {df.columns}", recipe=recipe,
                                  key=f"context.{key}")
    casts = [pl.col(c).cast(pl.String).fill_null("") for c in sparse if c not in (S.USER, S.ITEM)]
    casts += [pl.col(c).cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False) for c in dense]
    df = df.with_columns(casts)
    for c in dense:
        if df[c].null_count() == len(df):
            raise RecipeError(f"dense feature {c!r} has no numeric value", recipe=recipe, key="context.dense")
    keep = [c for c in df.columns if c in CORE or c in sparse or c in dense or c in spec.get("groups", [])]
    fields = {"sparse": sparse, "dense": dense, "groups": list(spec.get("groups", [])),
              "scenario": S.SCENARIO in df.columns}
    return df.select(keep), fields

