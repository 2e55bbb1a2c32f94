"""Item text assembled from metadata (title, brand, categories, keywords, description).

Metadata rarely shares the interaction file's ids: Amazon titles hang off ASINs that
hang off P5 integer ids, Yelp categories off S3Rec ids. A text source therefore names a
chain of JSON maps (``via``) that walks each dataset item id to the metadata key.
The assembled ``text`` column feeds the LLM side (encoders, prompts); its coverage
(share of items with non-empty text) is part of every dataset description.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import polars as pl

from recsys.data import readers
from recsys.data import schema as S
from recsys.errors import RecipeError

SOURCE_FORMATS = ("csv", "tsv", "atomic", "parquet", "keyword_lines", "json_map")
_LABELS = {"title": None, "brand": "Brand", "categories": "Categories", "keywords": "Keywords",
           "description": "Description"}


@dataclass
class TextSource:
    """One metadata file and how its keys and columns line up with the dataset's items."""

    file: str
    format: str
    fields: dict[str, str]
    key: str | None = None
    via: list[dict] | None = None
    json_key: str | None = None
    list_separator: dict[str, str] | None = None

    @classmethod
    def from_recipe(cls, spec: dict, recipe: str, index: int) -> "TextSource":
        where = f"item_text[{index}]"
        for need in ("file", "format", "fields"):
            if need not in spec:
                raise RecipeError("missing key", recipe=recipe, key=f"{where}.{need}")
        if spec["format"] not in SOURCE_FORMATS:
            raise RecipeError(f"unknown format {spec['format']!r}; known: {SOURCE_FORMATS}", recipe=recipe,
                              key=f"{where}.format")
        unknown = set(spec["fields"]) - set(S.TEXT_FIELDS)
        if unknown:
            raise RecipeError(f"unknown text field(s) {sorted(unknown)}; known: {S.TEXT_FIELDS}", recipe=recipe,
                              key=f"{where}.fields")
        allowed = {"file", "format", "fields", "key", "via", "json_key", "list_separator"}
        extra = set(spec) - allowed
        if extra:
            raise RecipeError(f"unknown key(s) {sorted(extra)}; allowed: {sorted(allowed)}", recipe=recipe, key=where)
        return cls(**spec)


def _source_frame(src: TextSource, path: Path) -> pl.DataFrame:
    """The source as (``_key``, field...) rows, every field a string."""
    if src.format == "keyword_lines":
        (field_name,) = src.fields
        m = readers.read_keyword_lines(path)
        return pl.DataFrame({"_key": list(m), field_name: list(m.values())})
    if src.format == "json_map":
        (field_name,) = src.fields
        m = readers.read_json_map(path, src.json_key)
        values = [", ".join(map(str, v)) if isinstance(v, list) else str(v) for v in m.values()]
        return pl.DataFrame({"_key": list(m), field_name: values})
    df = readers._read_table_raw(path, src.format)
    key = src.key or S.ITEM
    for col in [key, *src.fields.values()]:
        if col not in df.columns:
            raise readers.DataError(f"column not found; the file has {df.columns}", path=path, column=col)
    out = df.select(pl.col(key).cast(pl.String).alias("_key"),
                    *[pl.col(c).cast(pl.String).alias(f) for f, c in src.fields.items()])
    for f, sep in (src.list_separator or {}).items():
        out = out.with_columns(pl.col(f).str.split(sep).list.join(", "))
    return out.unique("_key", keep="first", maintain_order=True)


def attach_text(items: pl.DataFrame, sources: list[TextSource], resolve: Callable[[str], Path]) -> pl.DataFrame:
    """Add text fields from every source, then the assembled ``text`` column."""
    for src in sources:
        keys = items[S.ITEM].cast(pl.String)
        for hop in src.via or []:
            mapping = readers.read_json_map(resolve(hop["file"]), hop.get("key"))
            keys = keys.replace_strict({k: str(v) for k, v in mapping.items()}, default=None,
                                       return_dtype=pl.String)
        frame = _source_frame(src, resolve(src.file))
        joined = pl.DataFrame({"_key": keys}).join(frame, on="_key", how="left", maintain_order="left")
        for f in src.fields:
            new = joined[f]
            items = items.with_columns(
                (pl.coalesce(pl.col(f), new) if f in items.columns else new).alias(f))
    return items.with_columns(assemble_text(items).alias("text"))


def assemble_text(items: pl.DataFrame) -> pl.Expr:
    """``Title. Brand: b. Categories: c. ...`` from whichever fields are present and non-empty."""
    parts = []
    for f, label in _LABELS.items():
        if f not in items.columns:
            continue
        v = pl.col(f).str.strip_chars()
        v = pl.when(v != "").then(v)
        parts.append(v if label is None else pl.lit(f"{label}: ") + v)
    if not parts:
        return pl.lit(None, dtype=pl.String)
    text = pl.concat_str(parts, separator=". ", ignore_nulls=True)
    return pl.when(text != "").then(text)


def coverage(items: pl.DataFrame) -> float:
    """Share of items with a non-empty ``text``."""
    if "text" not in items.columns or len(items) == 0:
        return 0.0
    return float(items["text"].is_not_null().sum()) / len(items)
