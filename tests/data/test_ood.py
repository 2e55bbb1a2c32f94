"""OOD split builder: the shift is real (popularity / per-user time), evaluation splits hold no cold
users or items, the derived recipe works from any folder, and bad requests name the key."""

import polars as pl
import pytest

from recsys.data import schema as S
from recsys.data.ood import ood_recipe, ood_split, shift_report
from recsys.data.prepare import prepare
from recsys.data.recipe import find_recipe, load_recipe_file
from recsys.errors import DataError, RecipeError


@pytest.fixture(scope="module")
def raw(ml100k):
    return ml100k.interactions.drop(S.SPLIT, S.USER_IDX, S.ITEM_IDX)


def test_popularity_shift_draws_unpopular_items(raw):
    df = ood_split(raw, "popularity", ood=0.2, seed=1)
    report = shift_report(df)
    assert report["test_ood"]["mean_train_popularity"] < 0.6 * report["test"]["mean_train_popularity"]
    # the IID test looks like training
    assert report["test"]["mean_train_popularity"] == pytest.approx(report["train"]["mean_train_popularity"], rel=0.05)
    # 20% drawn; rows of items that then have no training interaction are dropped
    assert 0.15 < report["test_ood"]["rows"] / len(raw) <= 0.2
    assert ood_split(raw, "popularity", ood=0.2, seed=1).equals(df)  # seeded
    assert not ood_split(raw, "popularity", ood=0.2, seed=2).equals(df)


def test_temporal_shift_is_each_users_latest_interactions(raw):
    df = ood_split(raw, "temporal", ood=0.2, seed=1)
    last_in = df.filter(pl.col(S.SPLIT) != "test_ood").group_by(S.USER).agg(pl.col(S.TIME).max().alias("t_in"))
    first_ood = df.filter(pl.col(S.SPLIT) == "test_ood").group_by(S.USER).agg(pl.col(S.TIME).min().alias("t_ood"))
    both = first_ood.join(last_in, on=S.USER)
    assert len(both) > 900 and (both["t_ood"] >= both["t_in"]).all()


@pytest.mark.parametrize("shift", ["popularity", "temporal"])
def test_evaluation_splits_hold_no_cold_users_or_items(raw, shift):
    df = ood_split(raw, shift, seed=3)
    train = df.filter(pl.col(S.SPLIT) == S.TRAIN)
    for name in ("valid", "test", "test_ood"):
        part = df.filter(pl.col(S.SPLIT) == name)
        assert len(part) > 0
        assert part[S.USER].is_in(train[S.USER].implode()).all()
        assert part[S.ITEM].is_in(train[S.ITEM].implode()).all()


def test_derived_recipe_prepares_from_another_folder(tmp_path, monkeypatch):
    path = ood_recipe(find_recipe("ml-100k"), "popularity", tmp_path / "mine")
    assert path.name == "ml-100k-ood-popularity.toml"
    recipe = load_recipe_file(path)
    assert recipe.task == "general" and recipe.split["method"] == "ood"
    monkeypatch.chdir(tmp_path)
    ds = prepare(path, progress=False)
    assert set(ds.describe()["splits"]) == {"train", "valid", "test", "test_ood"}
    # the same raw data and filters as the base recipe
    assert ds.describe()["interactions"] <= prepare("ml-100k", progress=False).describe()["interactions"]


def test_bad_requests_name_the_key(tmp_path, raw):
    with pytest.raises(RecipeError, match="split.method"):
        ood_recipe(find_recipe("drgo-food"), "popularity", tmp_path)
    with pytest.raises(DataError, match="shift"):
        ood_split(raw, "seasonal")
    with pytest.raises(DataError, match="timestamp"):
        ood_split(raw.drop(S.TIME), "temporal")
    with pytest.raises(DataError, match="shares"):
        ood_split(raw, "popularity", ood=1.5)
    assert not list(tmp_path.iterdir())  # nothing half-written

