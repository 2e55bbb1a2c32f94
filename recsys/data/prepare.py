"""Recipe -> prepared dataset: read, filter, index, split, attach item text, save with a fingerprint.

A prepared dataset is a folder under ``<cache>/prepared/<name>/<fingerprint>/`` holding
``interactions.parquet`` (with the ``split`` column), ``items.parquet``,
``users.parquet`` and ``meta.json``. The fingerprint is the sha256 of the recipe's
content, the sha256 of every raw file it reads, and the preparation code's format
version, so an unchanged recipe on unchanged files is re-used, and any change makes
a new folder (the old one is left intact). The folder is written to a temporary
name and renamed into place, so an interrupted preparation leaves nothing half-made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import polars as pl

from recsys.data import filters as F
from recsys.data import readers, splits
from recsys.data import schema as S
from recsys.data.download import fetch, sha256_file
from recsys.data.recipe import CTR_TASKS, FileSpec, Recipe, find_recipe
from recsys.data.text import TextSource, attach_text, coverage
from recsys.errors import DataError, RecipeError
from recsys.io.paths import (
    OutsideFolder,
    cache_dir,
    data_dir,
    inside,
    relative_path_problem,
)
from recsys.io.safe_write import exclusive_lock, remove_stale_temps

log = logging.getLogger(__name__)

#: Bump when preparation output changes for the same inputs: it invalidates cached datasets.
FORMAT_VERSION = 1


@dataclass
class FileResolver:
    """Finds a recipe's files: embedded next to the recipe, in the data folder, or in the download cache."""

    recipe: Recipe
    data_root: Path | None
    download: bool = False
    hashes: dict[str, str] = field(default_factory=dict)

    def path(self, key: str) -> Path:
        spec: FileSpec = self.recipe.files[key]
        # raw files are only read, so a path may be absolute or lead out of the data folder; a download
        # is written, so its destination must stay inside the cache's downloads folder
        if spec.embedded:
            candidates = [self.recipe.source.parent / spec.path]
        else:
            candidates = [self.data_root / spec.path] if self.data_root is not None else []
            if relative_path_problem(spec.path) is None:
                try:
                    candidates.append(inside(cache_dir() / "downloads", self.recipe.name, spec.path))
                except OutsideFolder as exc:  # a link in the downloads folder that leads out of it
                    raise RecipeError(str(exc), recipe=self.recipe.source, key=f"files.{key}.path") from exc
        for cand in candidates:
            if cand.is_file():
                return cand
        if self.download and spec.url and not spec.embedded:  # validated: the last candidate is the cache's
            return fetch(spec.url, candidates[-1], spec.sha256)
        looked = ", ".join(str(c) for c in candidates)
        hint = ("pass --data-dir DIR (or set RECSYS_DATA) to the folder that holds it"
                + (", or --download to fetch it from its upstream URL" if spec.url else ""))
        raise DataError(f"raw file '{key}' not found (looked in: {looked})", path=spec.path, hint=hint)

    def sha(self, key: str) -> str:
        if key not in self.hashes:
            path = self.path(key)
            got = sha256_file(path)
            want = self.recipe.files[key].sha256
            if want and got != want:
                log.warning("%s: sha256 %s differs from the recipe's %s (a different version of the file?)",
                            path, got[:12], want[:12])
            self.hashes[key] = got
        return self.hashes[key]


def _used_files(recipe: Recipe) -> list[str]:
    keys = []
    inter = recipe.interactions
    if recipe.split["method"] == "given":
        keys += list(recipe.split["files"].values())
    else:
        keys.append(inter["file"])
    if "item_map" in inter:
        keys.append(inter["item_map"])
    for spec in [*recipe.item_text, *([recipe.raw["domain_split"]] if "domain_split" in recipe.raw else [])]:
        keys.append(spec["file"])
        keys += [hop["file"] for hop in spec.get("via", [])]
    if "context" in recipe.raw:
        from recsys.data.context import join_files

        keys += join_files(recipe.raw["context"])
    return list(dict.fromkeys(keys))


def fingerprint(recipe: Recipe, resolver: FileResolver) -> str:
    payload = {
        "format_version": FORMAT_VERSION,
        "recipe": recipe.digest(),
        "files": {k: resolver.sha(k) for k in _used_files(recipe)},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _reader_options(recipe: Recipe, resolver: FileResolver, report: readers.ReadReport) -> dict:
    opts = {k: v for k, v in recipe.interactions.items() if k not in ("file", "format")}
    if "item_map" in opts:
        opts["item_map"] = resolver.path(opts["item_map"])
    opts["report"] = report
    return opts


def _read(recipe: Recipe, resolver: FileResolver, report: readers.ReadReport) -> pl.DataFrame:
    fmt = recipe.interactions["format"]
    if recipe.split["method"] == "given":
        parts = {}
        for part, key in recipe.split["files"].items():
            path = resolver.path(key)
            parts[part] = readers.read_interactions(fmt, path, **_reader_options(recipe, resolver, report))
        return splits.given(parts)
    path = resolver.path(recipe.interactions["file"])
    return readers.read_interactions(fmt, path, **_reader_options(recipe, resolver, report))


def _warn_ambiguous_ids(df: pl.DataFrame, recipe: Recipe) -> None:
    """Ids are text, compared exactly as written: ``5``, ``05`` and ``5.0`` are three users. That is the
    rule (an id like ``007`` must stay itself), but when it happens it is said, not silent."""
    for col in (S.USER, S.ITEM):
        ids = df.select(pl.col(col).unique())
        nums = ids.with_columns(pl.col(col).str.strip_chars().cast(pl.Float64, strict=False).alias("_n")).drop_nulls("_n")
        clash = nums.filter(pl.col("_n").is_duplicated()).sort("_n", col)
        if len(clash):
            first = clash.filter(pl.col("_n") == clash["_n"][0])[col].to_list()
            log.warning("%s: %s values %s are different ids (ids are compared as written); %d numeric ids "
                        "collide this way. Normalise them in the file if they mean the same %s.", recipe.source,
                        col, ", ".join(repr(x) for x in first[:3]), len(clash), col.split("_")[0])


def _filter(df: pl.DataFrame, spec: dict, recipe: Recipe) -> pl.DataFrame:
    n0 = len(df)
    if "rating_min" in spec:
        df = F.rating_threshold(df, float(spec["rating_min"]))
    if "time_window" in spec:
        start, end = (list(spec["time_window"]) + [None, None])[:2]
        df = F.time_window(df, start, end)
    df = F.deduplicate(df, spec.get("dedup", "none"))
    if spec.get("user_core") or spec.get("item_core"):
        df = F.k_core(df, int(spec.get("user_core", 0)), int(spec.get("item_core", 0)))
    if df.is_empty():
        raise DataError(f"filtering left no interactions (from {n0}); loosen [filters] {spec}",
                        path=recipe.source)
    return df


def _split(df: pl.DataFrame, spec: dict) -> pl.DataFrame:
    method = spec["method"]
    if method == "given":
        return df
    if method == "leave_one_out":
        return splits.leave_one_out(df, spec.get("order_by", "auto"))
    if method == "ood":  # an IID split plus a shifted test_ood split (recsys.data.ood)
        from recsys.data.ood import ood_split

        return ood_split(df, spec.get("shift", "popularity"), spec.get("ood", 0.2), spec.get("valid", 0.1),
                         spec.get("test", 0.2), spec.get("seed", 2024))
    if method == "temporal":
        return splits.temporal(df, spec.get("valid", 0.1), spec.get("test", 0.1))
    return splits.ratio(df, spec.get("valid", 0.1), spec.get("test", 0.1), spec.get("seed", 2024),
                        spec.get("per_user", False))


def _index(df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Dense 1-based indices in order of first appearance (0 stays free for padding)."""
    users = df.select(S.USER).unique(maintain_order=True).with_row_index(S.USER_IDX, offset=1)
    item_cols = [S.ITEM] + ([S.DOMAIN] if S.DOMAIN in df.columns else [])
    items = df.select(item_cols).unique(S.ITEM, keep="first", maintain_order=True).with_row_index(S.ITEM_IDX, offset=1)
    df = (df.join(users, on=S.USER, how="left", maintain_order="left")
            .join(items.select(S.ITEM, S.ITEM_IDX), on=S.ITEM, how="left", maintain_order="left"))
    users = users.with_columns(pl.col(S.USER_IDX).cast(pl.Int64))
    items = items.with_columns(pl.col(S.ITEM_IDX).cast(pl.Int64))
    df = df.with_columns(pl.col(S.USER_IDX).cast(pl.Int64), pl.col(S.ITEM_IDX).cast(pl.Int64))
    return df, users, items


class PreparedDataset:
    """A prepared dataset on disk. Tables load lazily; ``meta`` holds counts, fingerprint and provenance."""

    def __init__(self, path: Path):
        self.path = Path(path)
        meta_file = self.path / "meta.json"
        if not meta_file.is_file():
            raise DataError("not a prepared dataset (meta.json missing)", path=self.path)
        self.meta = json.loads(meta_file.read_text())

    name = property(lambda self: self.meta["name"])
    fingerprint = property(lambda self: self.meta["fingerprint"])
    task = property(lambda self: self.meta["task"])

    @cached_property
    def interactions(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "interactions.parquet", glob=False)

    @cached_property
    def items(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "items.parquet", glob=False)

    @cached_property
    def users(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "users.parquet", glob=False)

    def split(self, name: str) -> pl.DataFrame:
        return self.interactions.filter(pl.col(S.SPLIT) == name)

    def describe(self) -> dict:
        return self.meta["stats"]

    def __repr__(self) -> str:
        s = self.meta["stats"]
        return (f"PreparedDataset({self.name!r}, users={s['users']}, items={s['items']}, "
                f"interactions={s['interactions']}, fingerprint={self.fingerprint[:12]})")


def compute_stats(inter: pl.DataFrame, items: pl.DataFrame) -> dict:
    n_users = inter[S.USER].n_unique()
    n_items = inter[S.ITEM].n_unique()
    n = len(inter)
    lengths = inter.group_by(S.USER).len()["len"]
    stats = {
        "users": n_users,
        "items": n_items,
        "interactions": n,
        "density": n / (n_users * n_items) if n_users and n_items else 0.0,
        "seq_len": {"min": int(lengths.min()), "max": int(lengths.max()), "mean": float(lengths.mean()),
                    "median": float(lengths.median())},
        "has_timestamps": S.TIME in inter.columns and inter[S.TIME].null_count() == 0,
        "text_coverage": coverage(items),
        "splits": {r[S.SPLIT]: r["len"] for r in inter.group_by(S.SPLIT).len().sort(S.SPLIT).iter_rows(named=True)},
    }
    for col in (S.DOMAIN, S.SCENARIO):
        if col in inter.columns and inter[col].null_count() < n:
            stats[col + "s"] = {str(r[col]): r["len"] for r in
                                inter.group_by(col).len().sort(col).iter_rows(named=True)}
    if S.LABEL in inter.columns:
        stats["positive_rate"] = float(inter[S.LABEL].mean())
    return stats


def prepare(dataset: str | Path | Recipe, data_root: str | Path | None = None, *, force: bool = False,
            download: bool = False, progress: bool = True) -> PreparedDataset:
    """Prepare (or re-use) a dataset. ``dataset`` is a shipped name, a recipe file, or a ``Recipe``."""
    recipe = dataset if isinstance(dataset, Recipe) else find_recipe(dataset)
    resolver = FileResolver(recipe, data_dir(data_root), download)
    fp = fingerprint(recipe, resolver)
    folder = inside(cache_dir() / "prepared", recipe.name)
    out = folder / fp[:16]
    if (out / "meta.json").is_file() and not force:
        return PreparedDataset(out)
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(folder / ".lock"):  # one preparer per dataset; the others wait, then re-use its result
        remove_stale_temps(folder)
        if (out / "meta.json").is_file() and not force:
            return PreparedDataset(out)
        return _prepare_into(out, recipe, resolver, fp, progress)


def _meta(recipe: Recipe, resolver: FileResolver, fp: str, stats: dict, extra: dict, t0: float) -> dict:
    """What ``meta.json`` records: the recipe, the files read (with their sha256), statistics and timing."""
    return {
        "name": recipe.name,
        "task": recipe.task,
        "description": recipe.description,
        "fingerprint": fp,
        "format_version": FORMAT_VERSION,
        "recipe_file": str(recipe.source),
        "recipe": recipe.raw,
        "files": {k: {"path": str(resolver.path(k)), "sha256": resolver.sha(k)} for k in _used_files(recipe)},
        "rows_read": extra["rows_read"],
        "skipped_lines": extra["skipped_lines"],
        "skipped_line_count": extra["skipped_line_count"],
        "stats": stats,
        **{k: v for k, v in extra.items() if k in ("domain_split", "context_fields")},
        "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _write_prepared(out: Path, df, items, users, meta: dict) -> None:
    """Write into a temporary folder beside ``out``, then rename it into place (never half a dataset)."""
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    df.write_parquet(tmp / "interactions.parquet")
    items.write_parquet(tmp / "items.parquet")
    users.write_parquet(tmp / "users.parquet")
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    if out.is_symlink():  # --force on an entry that is a link: drop the link, never what it points to
        out.unlink()
    elif out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)


def _prepare_into(out: Path, recipe: Recipe, resolver: FileResolver, fp: str, progress: bool) -> PreparedDataset:
    t0 = time.perf_counter()
    steps = ["read", "filter", "split", "index", "text", "write"]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(steps), desc=f"prepare {recipe.name}", leave=False, disable=None)

    def step(label: str):
        if bar:
            bar.set_postfix_str(label)
            bar.update(1)

    report = readers.ReadReport()
    df = _read(recipe, resolver, report)
    _warn_ambiguous_ids(df, recipe)
    step("read")
    rows_read = len(df)
    domain_report = None
    if "domain_split" in recipe.raw:  # an attribute-split cross-domain pair
        from recsys.data.domain_split import assign_domains

        df, domain_report = assign_domains(df, recipe.raw["domain_split"], str(recipe.source), resolver.path)
    context_fields = None
    if recipe.task in CTR_TASKS:  # side features, label, scenario (recsys.data.context)
        from recsys.data.context import apply_context

        df, context_fields = apply_context(df, recipe.raw.get("context", {}), recipe.source, resolver.path)
    df = _filter(df, recipe.filters, recipe)
    step("filter")
    df = _split(df, recipe.split)
    step("split")
    df, users, items = _index(df)
    step("index")
    sources = [TextSource.from_recipe(s, str(recipe.source), i) for i, s in enumerate(recipe.item_text)]
    if sources:
        items = attach_text(items, sources, resolver.path)
    step("text")

    extra = {"rows_read": rows_read, "skipped_lines": report.skipped_lines[:100],
             "skipped_line_count": len(report.skipped_lines),
             **({"domain_split": domain_report} if domain_report else {}),
             **({"context_fields": context_fields} if context_fields else {})}
    meta = _meta(recipe, resolver, fp, compute_stats(df, items), extra, t0)
    _write_prepared(out, df, items, users, meta)
    step("write")
    if bar:
        bar.close()
    return PreparedDataset(out)
