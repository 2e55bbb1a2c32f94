"""Export a prepared dataset to RecBole atomic files, so RecBole's own pipeline can load it.

Writes ``<out>/<name>/<name>.inter`` (all interactions), ``.item`` (item text fields,
when any) and the split as RecBole benchmark files ``<name>.train.inter``,
``<name>.valid.inter``, ``<name>.test.inter``: with ``benchmark_filename`` set to
``["train", "valid", "test"]`` RecBole evaluates on exactly our split.

Datasets without timestamps get ``timestamp`` = the interaction's position in its
user's sequence, so RecBole's time ordering reproduces the sequence order.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl

from recsys.data import schema as S
from recsys.data.prepare import PreparedDataset
from recsys.errors import DataError
from recsys.io.paths import cache_dir, inside, name_problem
from recsys.io.safe_write import exclusive_lock, remove_stale_temps

BENCHMARK_PARTS = (S.TRAIN, S.VALID, S.TEST)


def _inter_frame(ds: PreparedDataset) -> pl.DataFrame:
    df = ds.interactions
    has_time = ds.describe()["has_timestamps"]
    cols = [pl.col(S.USER).alias("user_id:token"), pl.col(S.ITEM).alias("item_id:token")]
    if S.RATING in df.columns and df[S.RATING].null_count() < len(df):
        cols.append(pl.col(S.RATING).fill_null(1.0).alias("rating:float"))
    if S.LABEL in df.columns:
        cols.append(pl.col(S.LABEL).alias("label:float"))
    if has_time:
        cols.append(pl.col(S.TIME).alias("timestamp:float"))
    else:
        pos = pl.int_range(pl.len()).over(S.USER).cast(pl.Float64)
        cols.append(pos.alias("timestamp:float"))
    fields = ds.meta.get("context_fields")
    if fields:  # CTR features: sparse as tokens, dense as floats, the scenario as a token
        cols += [pl.col(c).cast(pl.String).fill_null("").str.replace_all(r"[\t\r\n ]+", "_").alias(f"{c}:token")
                 for c in fields["sparse"] if c not in (S.USER, S.ITEM)]
        cols += [pl.col(c).fill_null(0.0).alias(f"{c}:float") for c in fields["dense"]]
        if fields.get("scenario"):
            cols.append(pl.col(S.SCENARIO).cast(pl.String).alias("scenario:token"))
    keys = [S.USER, S.TIME, S.ORDER] if has_time else [S.USER, S.ORDER]
    split_rank = pl.col(S.SPLIT).replace_strict({S.TRAIN: 0, S.VALID: 1}, default=2, return_dtype=pl.Int8)
    # sequence position must follow split order (train < valid < test) within each user
    ordered = df.with_columns(split_rank.alias("_s")).sort([S.USER, "_s", *keys[1:]], maintain_order=True)
    return ordered.select(*cols, pl.col(S.SPLIT))


def _write(df: pl.DataFrame, path: Path) -> None:
    df.write_csv(path, separator="\t", quote_style="never", float_precision=None)


def export_atomic(ds: PreparedDataset, out_dir: str | Path | None = None) -> Path:
    """Write atomic files; returns the folder to use as RecBole's ``data_path`` (dataset = ``ds.name``).

    Re-exports are skipped when the files for this fingerprint already exist.
    """
    problem = name_problem(ds.name)
    if problem:  # a prepared dataset made before names were checked, or a hand-edited meta.json
        raise DataError(f"dataset name {problem}; it cannot name a folder", path=ds.path / "meta.json")
    root = Path(out_dir) if out_dir else inside(cache_dir() / "atomic", f"{ds.name}-{ds.fingerprint[:16]}")
    folder = inside(root, ds.name)
    done = folder / ".complete"
    if done.is_file() and done.read_text() == ds.fingerprint:
        return root
    root.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(root / ".lock"):  # concurrent exports of one dataset take turns
        remove_stale_temps(root)
        if done.is_file() and done.read_text() == ds.fingerprint:
            return root
        _export_into(ds, root, folder)
    return root


def _export_into(ds: PreparedDataset, root: Path, folder: Path) -> None:
    tmp = root / f".{ds.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    inter = _inter_frame(ds)
    _write(inter.drop(S.SPLIT), tmp / f"{ds.name}.inter")
    for part in BENCHMARK_PARTS:
        _write(inter.filter(pl.col(S.SPLIT) == part).drop(S.SPLIT), tmp / f"{ds.name}.{part}.inter")
    text_fields = [f for f in S.TEXT_FIELDS if f in ds.items.columns]
    if text_fields:
        items = ds.items.select(
            pl.col(S.ITEM).alias("item_id:token"),
            # token_seq fields are space-separated; tabs and newlines would break the file
            *[pl.col(f).fill_null("").str.replace_all(r"[\t\r\n]+", " ").alias(f"{f}:token_seq") for f in text_fields],
        )
        _write(items, tmp / f"{ds.name}.item")
    (tmp / ".complete").write_text(ds.fingerprint)
    if folder.is_symlink():  # never delete through a link
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
