"""Cross-domain datasets from one domain: each item's domain from one of its attributes.

Real cross-domain pairs carry a domain per item (ABXI's item map, Tri-CDR's id offsets). An
*attribute-split* pair turns a single-domain dataset into two domains by an item attribute
(ml-latest-small by genre group, Yelp by top-level category). The recipe's ``[domain_split]``
names the attribute like an ``[[item_text]]`` entry (file, format, key, one field, optional
``via`` maps and ``list_separator``) plus the groups::

    [domain_split]
    file = "movies"
    format = "csv"
    key = "movieId"
    fields = { categories = "genres" }
    list_separator = { categories = "|" }
    groups = { thrill = ["Action", "Thriller", ...], heart = ["Drama", "Comedy", ...] }
    other = "heart"        # optional: items whose values match no group go here (else they are dropped)

``rule = "first"`` (for hierarchical lists such as Yelp's, whose first value is the top level):
an item's domain is the group of the first of its listed values that belongs to a group.
``rule = "majority"`` (the default; for unordered tags such as MovieLens genres, which are listed
alphabetically): the group holding most of its values, ties to the group listed first.
Items with no matching value (and no ``other``) are dropped before filtering; the prepared
dataset's meta reports how many.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import polars as pl

from recsys.data import schema as S
from recsys.data.text import TextSource, attach_text
from recsys.errors import RecipeError

KEYS = {"file", "format", "fields", "key", "via", "json_key", "list_separator", "groups", "other", "rule"}
RULES = ("first", "majority")


def _source(spec: dict, recipe: str) -> tuple[TextSource, str, dict[str, str], str | None]:
    extra = set(spec) - KEYS
    if extra:
        raise RecipeError(f"unknown key(s) {sorted(extra)}; allowed: {sorted(KEYS)}", recipe=recipe,
                          key="domain_split")
    groups = spec.get("groups")
    if not isinstance(groups, dict) or len(groups) < 2:
        raise RecipeError("needs at least two groups: { domain = [attribute values] }", recipe=recipe,
                          key="domain_split.groups")
    value_to_group: dict[str, str] = {}
    for group, values in groups.items():
        for v in values:
            if v in value_to_group:
                raise RecipeError(f"value {v!r} is in groups {value_to_group[v]!r} and {group!r}", recipe=recipe,
                                  key="domain_split.groups")
            value_to_group[v] = group
    other = spec.get("other")
    if other is not None and other not in groups:
        raise RecipeError(f"other = {other!r} is not one of the groups {sorted(groups)}", recipe=recipe,
                          key="domain_split.other")
    if spec.get("rule", "majority") not in RULES:
        raise RecipeError(f"rule must be one of {RULES}", recipe=recipe, key="domain_split.rule")
    source = TextSource.from_recipe({k: v for k, v in spec.items() if k not in ("groups", "other", "rule")},
                                    recipe, 0)
    if len(source.fields) != 1:
        raise RecipeError("fields must name exactly one attribute", recipe=recipe, key="domain_split.fields")
    return source, next(iter(source.fields)), value_to_group, other


def assign_domains(df: pl.DataFrame, spec: dict, recipe: str, resolve: Callable[[str], Path]) -> tuple[pl.DataFrame, dict]:
    """Add the ``domain`` column by item attribute; drop interactions of unassigned items."""
    source, field, value_to_group, other = _source(spec, recipe)
    items = df.select(S.ITEM).unique(maintain_order=True)
    attrs = attach_text(items, [source], resolve).select(S.ITEM, field)

    order = list(spec["groups"])
    majority = spec.get("rule", "majority") == "majority"

    def pick(text: str | None) -> str | None:
        hits = [g for g in (value_to_group.get(v.strip()) for v in (text or "").split(", ")) if g is not None]
        if not hits:
            return other
        if not majority:
            return hits[0]
        return max(order, key=lambda g: (hits.count(g), -order.index(g)))

    domains = attrs.with_columns(pl.col(field).map_elements(pick, return_dtype=pl.String).alias(S.DOMAIN))
    assigned = domains.filter(pl.col(S.DOMAIN).is_not_null()).select(S.ITEM, S.DOMAIN)
    if S.DOMAIN in df.columns:
        df = df.drop(S.DOMAIN)
    out = df.join(assigned, on=S.ITEM, how="inner", maintain_order="left")
    report = {"items_unassigned": len(items) - len(assigned), "rows_dropped": len(df) - len(out),
              "items_per_domain": {r[S.DOMAIN]: r["len"] for r in
                                   assigned.group_by(S.DOMAIN).len().sort(S.DOMAIN).iter_rows(named=True)}}
    if out.is_empty():
        raise RecipeError(f"no item matched any group (attribute {field!r}); check the group values",
                          recipe=recipe, key="domain_split.groups")
    return out, report
