"""Out-of-distribution splits: an IID train / valid / test split plus a shifted ``test_ood`` split.

- ``popularity``: the OOD test draws interactions with probability proportional to
  1 / item popularity (weighted sampling without replacement), so its items are far less
  popular than the training distribution's: the shift of DRGO's Yelp2018 split.
- ``temporal``: the latest ``ood`` share of each user's interactions (by timestamp) is the OOD
  test: preference drift after training. Per user rather than one global cut, because a global
  cut mostly selects users who arrive later and have no training history at all.

The rest is split at random into train / valid / test (the IID side). Evaluation rows whose
user or item never occurs in training are dropped (they cannot be ranked fairly) and counted.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import polars as pl

from recsys.data import schema as S
from recsys.data.filters import time_keys
from recsys.data.recipe import Recipe, dump_recipe, load_recipe_file
from recsys.errors import DataError, RecipeError

SHIFTS = ("popularity", "temporal")
OOD = "test_ood"


def ood_split(df: pl.DataFrame, shift: str, ood: float = 0.2, valid: float = 0.1, test: float = 0.2,
              seed: int = 2024) -> pl.DataFrame:
    """Add a ``split`` column: ``test_ood`` (shifted), and train / valid / test (IID) for the rest."""
    if shift not in SHIFTS:
        raise DataError(f"unknown OOD shift {shift!r}; choose one of {SHIFTS}", column="split.shift")
    if not (0 < ood < 1 and 0 <= valid < 1 and 0 < test < 1 and valid + test < 1):
        raise DataError(f"OOD split shares must satisfy 0 < ood < 1, 0 <= valid, 0 < test, valid + test < 1; "
                        f"got ood={ood}, valid={valid}, test={test}")
    rng = np.random.default_rng(seed)
    df = df.sort(time_keys(df), maintain_order=True)
    n = len(df)
    n_ood = int(round(ood * n))
    is_ood = np.zeros(n, dtype=bool)
    if shift == "popularity":
        pop = df.select(pl.len().over(S.ITEM)).to_series().to_numpy()
        # Efraimidis-Spirakis: the n_ood largest u^(1/w) are a weighted sample without replacement
        keys = np.log(rng.random(n)) * pop
        is_ood[np.argsort(-keys, kind="stable")[:n_ood]] = True
    else:
        if S.TIME not in df.columns or df[S.TIME].null_count():
            raise DataError("a temporal OOD shift needs a timestamp on every interaction", column=S.TIME,
                            hint="use --shift popularity for datasets without timestamps")
        from_end = df.select(pl.int_range(pl.len(), 0, -1).over(S.USER)).to_series().to_numpy()  # n..1
        per_user = df.select(pl.len().over(S.USER)).to_series().to_numpy()
        is_ood = from_end <= np.floor(ood * per_user)  # df is in time order within each user
    u = rng.random(n)
    rest = ~is_ood
    share = np.empty(n)
    share[rest] = (np.argsort(np.argsort(u[rest])) + 0.5) / rest.sum()
    split = np.where(is_ood, OOD, np.where(share >= 1 - test, S.TEST, np.where(share >= 1 - test - valid, S.VALID,
                                                                                 S.TRAIN)))
    df = df.with_columns(pl.Series(S.SPLIT, split))
    train = df.filter(pl.col(S.SPLIT) == S.TRAIN)
    known = (pl.col(S.USER).is_in(train[S.USER].unique().implode())
             & pl.col(S.ITEM).is_in(train[S.ITEM].unique().implode()))
    return df.filter((pl.col(S.SPLIT) == S.TRAIN) | known)


def shift_report(df: pl.DataFrame) -> dict:
    """Per split: rows, users, and the mean training popularity of its items (the shift, in one number)."""
    pop = df.filter(pl.col(S.SPLIT) == S.TRAIN).group_by(S.ITEM).len().rename({"len": "train_pop"})
    out = {}
    for name in sorted(df[S.SPLIT].unique().to_list()):
        part = df.filter(pl.col(S.SPLIT) == name).join(pop, on=S.ITEM, how="left")
        row = {"rows": len(part), "users": part[S.USER].n_unique(),
               "mean_train_popularity": float(part["train_pop"].fill_null(0).mean())}
        if S.TIME in part.columns and part[S.TIME].null_count() == 0:
            row["time_range"] = [part[S.TIME].min(), part[S.TIME].max()]
        out[name] = row
    return out


def ood_recipe(base: Recipe, shift: str, out_dir: str | Path, ood: float = 0.2, valid: float = 0.1, test: float = 0.2,
               seed: int = 2024) -> Path:
    """Write ``<name>-ood-<shift>.toml`` to ``out_dir``: ``base`` (a ``Recipe``) with an OOD split.

    The derived recipe reads the same raw files with the same filters; only the split (and the
    task: OOD evaluation is for general recommenders) changes. Embedded files are referenced by
    absolute path so the new recipe works from any folder. Returns the written path.
    """
    if base.split["method"] == "given":
        raise RecipeError("its split is given by files; an OOD split needs one interactions file to split "
                          "(datasets with given OOD files, such as drgo-food, already have test_ood)",
                          recipe=base.source, key="split.method")
    if shift not in SHIFTS:
        raise DataError(f"unknown OOD shift {shift!r}; choose one of {SHIFTS}")
    raw = copy.deepcopy(base.raw)
    raw["name"] = f"{base.name}-ood-{shift}"
    raw["description"] = f"{base.description} OOD split: {shift} shift ({ood:.0%} of interactions)."
    raw["task"] = "general"
    raw["split"] = {"method": "ood", "shift": shift, "ood": ood, "valid": valid, "test": test, "seed": seed}
    for spec in raw["files"].values():
        if spec.get("embedded"):
            spec["path"] = str((base.source.parent / spec["path"]).resolve())
    out = Path(out_dir) / f"{raw['name']}.toml"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".toml.tmp")
    tmp.write_text(f"# Derived from {base.source} by `recsys data ood-split`.\n" + dump_recipe(raw), encoding="utf-8")
    load_recipe_file(tmp)  # what we write must read back as a valid recipe
    tmp.replace(out)
    return out
