"""Readers for the interaction formats found in recommendation papers' repositories.

Every reader returns a polars DataFrame in the canonical schema (``recsys.data.schema``)
and raises ``DataError`` naming the file and line (or column) of the first bad record.
Line-oriented formats accept ``on_bad_lines="skip"`` for files known to carry a stray
line (DRGO's Yelp2018 ``train.txt`` starts with a lone ``0``); skipped lines are counted
and reported, never silently dropped.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import polars as pl

from recsys.data import schema as S
from recsys.errors import DataError

log = logging.getLogger(__name__)

BAD_LINE_POLICIES = ("error", "skip")


@dataclass
class ReadReport:
    """What a reader saw besides the records: skipped lines, for provenance."""

    skipped_lines: list[int] = field(default_factory=list)


def _existing(path: Path) -> Path:
    if not path.exists():
        raise DataError("file not found", path=path,
                        hint="check --data-dir / $RECSYS_DATA, or the 'path' of this file in the recipe")
    if path.is_dir():
        raise DataError("expected a file, found a directory", path=path)
    return path


def _lines(path: Path, encoding: str = "utf-8") -> list[str]:
    try:
        return _existing(path).read_text(encoding=encoding).splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"not {encoding} text ({exc.reason} at byte {exc.start})", path=path,
                        hint="set encoding = \"latin-1\" (or the file's encoding) for this file in the recipe") from exc


def _token_frame(path: Path, lines: list[str], ok: pl.Expr, expected: str,
                 on_bad_lines: str, report: ReadReport, skip_comments: bool = False) -> pl.DataFrame:
    """Split lines on whitespace; check each with the boolean expression ``ok`` over ``tok``."""
    if on_bad_lines not in BAD_LINE_POLICIES:
        raise DataError(f"on_bad_lines must be one of {BAD_LINE_POLICIES}, got {on_bad_lines!r}", path=path)
    df = pl.DataFrame({"ln": list(range(1, len(lines) + 1)), "raw": lines}, schema={"ln": pl.Int64, "raw": pl.String})
    df = df.with_columns(pl.col("raw").str.strip_chars())
    df = df.filter(pl.col("raw") != "")
    if skip_comments:
        df = df.filter(~pl.col("raw").str.starts_with("#"))
    df = df.with_columns(pl.col("raw").str.replace_all(r"\s+", " ").str.split(" ").alias("tok"))
    df = df.with_columns(ok.fill_null(False).alias("_ok"))
    bad = df.filter(~pl.col("_ok"))
    if len(bad):
        first = bad.row(0, named=True)
        if on_bad_lines == "error":
            raise DataError(
                f"malformed line {first['raw'][:80]!r}: expected {expected} ({len(bad)} bad line(s) in all)",
                path=path, line=int(first["ln"]),
                hint="fix the file, or set on_bad_lines = \"skip\" for this file in the recipe to drop such lines",
            )
        report.skipped_lines.extend(int(x) for x in bad["ln"])
        log.warning("%s: skipped %d malformed line(s), first at line %d: %r", path, len(bad), first["ln"], first["raw"][:80])
        df = df.filter(pl.col("_ok"))
    return df.select("ln", "tok")


def read_s3rec_lines(path: Path, on_bad_lines: str = "error", report: ReadReport | None = None, **_) -> pl.DataFrame:
    """``uid i1 i2 ...`` per line, items in time order (S3Rec, ICLRec, CoSeRec, ...)."""
    report = report or ReadReport()
    df = _token_frame(path, _lines(path), pl.col("tok").list.len() >= 2, "'user item [item ...]'", on_bad_lines, report)
    df = df.with_columns(pl.col("tok").list.first().alias(S.USER), pl.col("tok").list.slice(1).alias(S.ITEM))
    df = df.select(S.USER, S.ITEM).explode(S.ITEM)
    return S.canonical(df)


def read_selfrec(path: Path, on_bad_lines: str = "error", report: ReadReport | None = None, **_) -> pl.DataFrame:
    """``user item [weight]`` per line (SELFRec, DRGO). The weight becomes ``rating``."""
    report = report or ReadReport()

    n = pl.col("tok").list.len()
    weight_ok = pl.col("tok").list.get(2, null_on_oob=True).cast(pl.Float64, strict=False).is_finite()  # NaN and inf are bad lines
    ok = (n == 2) | ((n == 3) & weight_ok)
    df = _token_frame(path, _lines(path), ok, "'user item [weight]'", on_bad_lines, report)
    df = df.select(
        pl.col("tok").list.get(0).alias(S.USER),
        pl.col("tok").list.get(1).alias(S.ITEM),
        pl.col("tok").list.get(2, null_on_oob=True).cast(pl.Float64).alias(S.RATING),
    )
    return S.canonical(df)


def read_tricdr(path: Path, domain_offsets: dict[str, int] | None = None, on_bad_lines: str = "error",
                report: ReadReport | None = None, **_) -> pl.DataFrame:
    """Tri-CDR ``user<TAB>i1 i2 ...`` lines. ``domain_offsets`` ({domain: first id - 1}) splits a mixed id space."""
    report = report or ReadReport()
    df = _token_frame(path, _lines(path), (pl.col("tok").list.len() >= 2)
                      & pl.col("tok").list.eval(pl.element().str.contains(r"^\d+$")).list.all(),
                      "'user<TAB>item item ...' with integer ids", on_bad_lines, report, skip_comments=True)
    df = df.with_columns(pl.col("tok").list.first().alias(S.USER), pl.col("tok").list.slice(1).alias(S.ITEM))
    df = df.select(S.USER, S.ITEM).explode(S.ITEM)
    if domain_offsets:
        ordered = sorted(domain_offsets.items(), key=lambda kv: kv[1])
        raw = pl.col(S.ITEM).cast(pl.Int64)
        dom = pl.lit(None, dtype=pl.String)
        local = pl.lit(None, dtype=pl.Int64)
        for name, offset in ordered:  # later (larger) offsets win
            dom = pl.when(raw > offset).then(pl.lit(name)).otherwise(dom)
            local = pl.when(raw > offset).then(raw - offset).otherwise(local)
        df = df.with_columns(dom.alias(S.DOMAIN), local.alias("_local"))
        df = df.with_columns((pl.col(S.DOMAIN) + ":" + pl.col("_local").cast(pl.String)).alias(S.ITEM)).drop("_local")
    return S.canonical(df)


def read_abxi(path: Path, item_map: Path | None = None, domains: list[str] | None = None,
              on_bad_lines: str = "error", report: ReadReport | None = None, **_) -> pl.DataFrame:
    """ABXI ``uid item|unix_ts ...`` lines with a JSON map ``ASIN -> [item id, domain index]``."""
    report = report or ReadReport()

    ok = (pl.col("tok").list.len() >= 2) & pl.col("tok").list.slice(1).list.eval(
        pl.element().str.contains(r"^[^|]+\|\d+(\.\d*)?$")).list.all()
    df = _token_frame(path, _lines(path), ok, "'user item|timestamp ...'", on_bad_lines, report)
    df = df.with_columns(pl.col("tok").list.first().alias(S.USER), pl.col("tok").list.slice(1).alias("pair"))
    df = df.select("ln", S.USER, "pair").explode("pair")
    df = df.with_columns(pl.col("pair").str.split_exact("|", 1).alias("p")).unnest("p")
    df = df.select("ln", S.USER, pl.col("field_0").alias("_iid"), pl.col("field_1").cast(pl.Float64).alias(S.TIME))
    if item_map is None:
        raise DataError("the abxi format needs 'item_map' (the map_item JSON file)", path=path)
    try:
        mapping = json.loads(_existing(item_map).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", path=item_map, line=exc.lineno) from exc
    names = domains or []
    rows = {"_iid": [], S.ITEM: [], S.DOMAIN: []}
    for asin, (iid, dom) in mapping.items():
        rows["_iid"].append(str(iid))
        rows[S.ITEM].append(asin)
        rows[S.DOMAIN].append(names[dom] if dom < len(names) else str(dom))
    lookup = pl.DataFrame(rows)
    out = df.join(lookup, on="_iid", how="left", maintain_order="left")
    missing = out.filter(pl.col(S.ITEM).is_null())
    if len(missing):
        raise DataError(f"item id {missing['_iid'][0]} is not in the item map {item_map} "
                        f"({len(missing)} interactions affected)", path=path, line=int(missing["ln"][0]),
                        hint="the interactions and the item map must come from the same release")
    return S.canonical(out.drop("_iid", "ln"))


def _read_table_raw(path: Path, fmt: str, encoding: str = "utf-8") -> pl.DataFrame:
    _existing(path)
    try:
        if fmt == "parquet":
            return pl.read_parquet(path, glob=False)
        sep = {"csv": ",", "tsv": "\t", "atomic": "\t"}[fmt]
        source = path
        if encoding.lower().replace("-", "").replace("_", "") not in ("utf8", "utf8sig"):  # polars reads UTF-8 only
            import io

            source = io.BytesIO("\n".join(_lines(path, encoding)).encode("utf-8"))
        df = pl.read_csv(source, separator=sep, infer_schema=False, quote_char=None if fmt == "atomic" else '"',
                         glob=False)  # a '[' or '*' in a folder name is a character, not a pattern
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"cannot parse as {fmt}: {str(exc).splitlines()[0]}", path=path) from exc
    if fmt == "atomic":  # RecBole headers are name:type
        names = [c.split(":", 1)[0] for c in df.columns]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise DataError(f"header names column {dup!r} twice ({df.columns})", path=path, line=1,
                            hint="RecBole atomic headers are tab-separated name:type fields, each name once")
        df = df.rename(dict(zip(df.columns, names)))
    return df


def read_table(path: Path, format: str = "csv", columns: dict[str, str] | None = None,
               keep_extra: bool = False, constants: dict[str, str] | None = None, encoding: str = "utf-8",
               on_bad_lines: str = "error", report: ReadReport | None = None, **_) -> pl.DataFrame:
    """csv / tsv / parquet / RecBole atomic, with ``columns`` = {canonical name: column in the file}."""
    df = _read_table_raw(path, format, encoding)
    columns = dict(columns or {})
    if format == "atomic":  # RecBole's conventional names need no mapping
        for name in (S.USER, S.ITEM, S.RATING, S.TIME, S.LABEL):
            if name in df.columns:
                columns.setdefault(name, name)
    return _map_columns(df, path, columns, keep_extra, constants, first_line=2 if format != "parquet" else None,
                        on_bad_lines=on_bad_lines, report=report)


def _map_columns(df: pl.DataFrame, path: Path, columns: dict[str, str], keep_extra: bool,
                 constants: dict[str, str] | None, first_line: int | None, blank_is_missing: bool = True,
                 on_bad_lines: str = "error", report: ReadReport | None = None) -> pl.DataFrame:
    """Raw string columns -> the canonical schema: rename by ``columns``, add constants, check and cast numbers.

    ``first_line`` is the file line of the first record (for errors); a blank numeric value is a
    missing one unless ``blank_is_missing`` is false (then it is an error, as in '::' files). NaN and
    infinite numbers are refused (a NaN rating passes no threshold test, a NaN timestamp sorts last
    and would become a user's test item), or dropped and reported with ``on_bad_lines = "skip"``.
    """
    for need in (S.USER, S.ITEM):
        if need not in columns and not keep_extra:
            raise DataError(f"no column is mapped to '{need}'", path=path,
                            hint=f"add columns = {{ {need} = \"<column name>\" }} to the recipe; "
                                 f"the file has columns {df.columns}")
    for canon, src in columns.items():
        if src not in df.columns:
            raise DataError(f"column not found (mapped to '{canon}'); the file has {df.columns}",
                            path=path, column=src)
    renamed = df.rename({src: canon for canon, src in columns.items() if src != canon})
    keep = list(columns) + ([c for c in renamed.columns if c not in columns] if keep_extra else [])
    out = renamed.select(keep)
    for canon, value in (constants or {}).items():
        out = out.with_columns(pl.lit(value).alias(canon))
    for name, dtype in S.INTERACTION_SCHEMA.items():
        if name in out.columns and dtype != pl.String and out[name].dtype == pl.String:
            cast = out[name].str.strip_chars().cast(dtype, strict=False)
            bad = cast.is_null() & out[name].is_not_null()
            if blank_is_missing:
                bad &= out[name].str.strip_chars() != ""
            if bad.any():
                row = int(bad.arg_max())
                raise DataError(f"value {out[name][row]!r} is not a number", path=path,
                                line=None if first_line is None else row + first_line, column=columns.get(name, name))
            out = out.with_columns(cast.alias(name))
    return S.canonical(_non_finite(out, path, columns, first_line, on_bad_lines, report or ReadReport()))


def _non_finite(df: pl.DataFrame, path: Path, columns: dict[str, str], first_line: int | None,
                on_bad_lines: str, report: ReadReport) -> pl.DataFrame:
    """Rows whose rating, timestamp or label is NaN or infinite: an error naming the first, or dropped."""
    checked = [c for c, t in S.INTERACTION_SCHEMA.items() if t == pl.Float64 and c in df.columns
               and df[c].dtype in (pl.Float32, pl.Float64)]
    if not checked:
        return df
    bad = pl.any_horizontal([pl.col(c).is_nan() | pl.col(c).is_infinite() for c in checked]).fill_null(False)
    flags = df.select(bad.alias("bad"))["bad"]
    if not flags.any():
        return df
    rows = flags.arg_true()
    row = int(rows[0])
    col = next(c for c in checked if df[c][row] is not None and not math.isfinite(df[c][row]))
    line = None if first_line is None else row + first_line
    if on_bad_lines != "skip":
        raise DataError(f"value {df[col][row]!r} is not a finite number ({len(rows)} such row(s) in all)",
                        path=path, line=line, column=columns.get(col, col),
                        hint="fix the file, or set on_bad_lines = \"skip\" under [interactions] to drop such rows "
                             "(they are counted in the prepared dataset's meta.json)")
    if first_line is not None:
        report.skipped_lines.extend(int(r) + first_line for r in rows)
    log.warning("%s: dropped %d row(s) with a NaN or infinite %s, first at line %s", path, len(rows), col, line)
    return df.filter(~flags)


def read_dat(path: Path, names: list[str] | None = None, encoding: str = "utf-8", columns: dict[str, str] | None = None,
             keep_extra: bool = False, constants: dict[str, str] | None = None, on_bad_lines: str = "error",
             report: ReadReport | None = None, **_) -> pl.DataFrame:
    """``a::b::c`` lines without a header (MovieLens 1M); ``names`` gives the columns, then as ``read_table``."""
    return _map_columns(dat_frame(path, names, encoding), path, dict(columns or {}), keep_extra, constants,
                        first_line=1, blank_is_missing=False, on_bad_lines=on_bad_lines, report=report)


def dat_frame(path: Path, names: list[str] | None, encoding: str = "utf-8") -> pl.DataFrame:
    if not names:
        raise DataError("format 'dat' needs 'names' (the column names, in order)", path=path)
    rows = [line.split("::") for line in _lines(path, encoding) if line.strip()]
    bad = next((i for i, r in enumerate(rows) if len(r) != len(names)), None)
    if bad is not None:
        raise DataError(f"expected {len(names)} '::'-separated fields, found {len(rows[bad])}", path=path,
                        line=bad + 1)
    return pl.DataFrame({n: [r[k] for r in rows] for k, n in enumerate(names)}, schema={n: pl.String for n in names})


READERS: dict[str, Callable[..., pl.DataFrame]] = {
    "dat": read_dat,
    "s3rec_lines": read_s3rec_lines,
    "selfrec": read_selfrec,
    "tricdr": read_tricdr,
    "abxi": read_abxi,
    "csv": lambda path, **kw: read_table(path, format="csv", **kw),
    "tsv": lambda path, **kw: read_table(path, format="tsv", **kw),
    "parquet": lambda path, **kw: read_table(path, format="parquet", **kw),
    "atomic": lambda path, **kw: read_table(path, format="atomic", **kw),
}


def read_interactions(fmt: str, path: Path, **options) -> pl.DataFrame:
    """Dispatch to the reader for ``fmt``; unknown formats list the known ones."""
    reader = READERS.get(fmt)
    if reader is None:
        raise DataError(f"unknown interaction format {fmt!r}; known: {sorted(READERS)}", path=path)
    df = reader(path, **options)
    if df.is_empty():
        raise DataError("no interactions found", path=path)
    return df


# ---- item metadata -----------------------------------------------------------------------

def read_json_map(path: Path, key: str | None = None) -> dict[str, object]:
    """A JSON object (optionally one of its top-level keys) as a str -> value dict."""
    try:
        data = json.loads(_existing(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", path=path, line=exc.lineno) from exc
    if key:
        if key not in data:
            raise DataError(f"JSON key {key!r} not found; top-level keys: {sorted(data)[:10]}", path=path)
        data = data[key]
    if not isinstance(data, dict):
        raise DataError("expected a JSON object mapping ids to values", path=path)
    return {str(k): v for k, v in data.items()}


def read_keyword_lines(path: Path) -> dict[str, str]:
    """``<key> <free text>`` per line (IDGenRec's textual item ids)."""
    out = {}
    for line in _lines(path):
        key, _, text = line.strip().partition(" ")
        if key:
            out[key] = text.strip()
    return out
