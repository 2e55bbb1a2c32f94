"""Item text for the LLM side: chosen fields, each cut to a length limit, in a fixed order.

The prepared dataset already holds the text fields (``recsys.data.text``); a template picks
and trims them so that prompts and embeddings stay within an encoder's or model's budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from recsys.data import schema as S

LABELS = {"title": None, "brand": "Brand", "categories": "Categories", "keywords": "Keywords",
          "description": "Description"}


@dataclass(frozen=True)
class ItemTemplate:
    fields: tuple[str, ...] = S.TEXT_FIELDS
    max_chars: dict = field(default_factory=lambda: {"title": 200, "brand": 60, "categories": 200,
                                                     "keywords": 200, "description": 500})

    def render(self, items: pl.DataFrame) -> list[str | None]:
        """One text per item row (``None`` when the item has no text in these fields)."""
        out = []
        cols = [f for f in self.fields if f in items.columns]
        for row in items.select(cols).iter_rows(named=True):
            parts = []
            for f in cols:
                v = (row[f] or "").strip()
                if not v:
                    continue
                v = v[: self.max_chars.get(f, 300)]
                parts.append(v if LABELS.get(f) is None else f"{LABELS[f]}: {v}")
            out.append(". ".join(parts) if parts else None)
        return out

    @classmethod
    def for_dataset(cls, ds) -> "ItemTemplate":
        """The recipe's ``[llm_template]`` (fields, max_chars) if it has one, else all text fields."""
        spec = ds.meta.get("recipe", {}).get("llm_template") or {}
        base = cls()
        return cls(fields=tuple(spec.get("fields", base.fields)),
                   max_chars={**base.max_chars, **spec.get("max_chars", {})})

    def describe(self) -> dict:
        return {"fields": list(self.fields), "max_chars": dict(self.max_chars)}
