import json
import stat

import polars as pl
import pytest

from recsys.data import find_recipe, load_recipe_file, prepare
from recsys.errors import DataError, RecipeError
from tests.conftest import write

RECIPE = """
name = "toy"
description = "a toy dataset"
task = "sequential"

[files.inter]
path = "toy/seq.txt"

[files.titles]
path = "toy/titles.csv"

[interactions]
file = "inter"
format = "s3rec_lines"

[filters]
user_core = {core}
item_core = {core}

[split]
method = "leave_one_out"

[[item_text]]
file = "titles"
format = "csv"
key = "id"
fields = {{ title = "name" }}
"""


@pytest.fixture
def toy(tmp_path):
    lines = [f"{u} " + " ".join(str((u + k) % 7 + 1) for k in range(5)) for u in range(1, 21)]
    write(tmp_path / "data/toy/seq.txt", "\n".join(lines) + "\n")
    write(tmp_path / "data/toy/titles.csv", "id,name\n1,One\n2,Two\n3,\n")
    recipe = write(tmp_path / "toy.toml", RECIPE.format(core=2))
    return tmp_path / "data", recipe


def test_prepare_counts_split_and_text(toy):
    data, recipe = toy
    ds = prepare(recipe, data, progress=False)
    s = ds.describe()
    assert (s["users"], s["items"], s["interactions"]) == (20, 7, 100)
    assert s["splits"] == {"test": 20, "train": 60, "valid": 20}
    assert s["text_coverage"] == pytest.approx(2 / 7)  # item 3 has an empty title
    inter = ds.interactions
    assert inter["user_idx"].min() == 1 and inter["item_idx"].min() == 1  # 0 is padding
    assert inter["item_idx"].max() == 7
    # the test item is each user's last one in file order
    last = inter.sort("order").group_by("user_id", maintain_order=True).last()
    assert (last["split"] == "test").all()


def test_prepare_reuses_by_fingerprint_and_notices_changes(toy):
    data, recipe = toy
    a = prepare(recipe, data, progress=False)
    mtime = (a.path / "interactions.parquet").stat().st_mtime_ns
    b = prepare(recipe, data, progress=False)
    assert b.path == a.path and (b.path / "interactions.parquet").stat().st_mtime_ns == mtime
    # a raw-file change makes a new fingerprint and leaves the old dataset intact
    with open(data / "toy/seq.txt", "a") as fh:
        fh.write("99 1 2 3\n")
    c = prepare(recipe, data, progress=False)
    assert c.fingerprint != a.fingerprint and a.path.exists()
    # so does a recipe change
    write(recipe, RECIPE.format(core=3))
    d = prepare(recipe, data, progress=False)
    assert d.fingerprint not in (a.fingerprint, c.fingerprint)


def test_read_only_data_folder_is_never_written(toy):
    data, recipe = toy
    before = sorted(p.name for p in data.rglob("*"))
    for p in [data, *data.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        ds = prepare(recipe, data, force=True, progress=False)
        assert not str(ds.path).startswith(str(data))
    finally:
        for p in [data, *data.rglob("*")]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    assert sorted(p.name for p in data.rglob("*")) == before


def test_filtering_everything_away_is_an_error(toy):
    data, recipe = toy
    write(recipe, RECIPE.format(core=50))
    with pytest.raises(DataError, match=r"toy.toml: filtering left no interactions \(from 100\)"):
        prepare(recipe, data, progress=False)


def test_missing_raw_file_says_where_it_looked(toy, tmp_path):
    _, recipe = toy
    with pytest.raises(DataError, match=r"(?s)toy/seq.txt: raw file 'inter' not found.*--data-dir"):
        prepare(recipe, tmp_path / "elsewhere", progress=False)


def test_recipe_errors_name_the_key(tmp_path):
    text = RECIPE.format(core=2)
    write(tmp_path / "a.toml", text.replace('task = "sequential"\n', ""))
    with pytest.raises(RecipeError, match=r"a.toml, key 'task': missing key"):
        load_recipe_file(tmp_path / "a.toml")
    write(tmp_path / "b.toml", text.replace("user_core", "usr_core"))
    with pytest.raises(RecipeError, match=r"(?s)key 'filters.usr_core': unknown key.*did you mean 'user_core'"):
        load_recipe_file(tmp_path / "b.toml")
    write(tmp_path / "c.toml", text.replace('file = "inter"', 'file = "interactions"'))
    with pytest.raises(RecipeError, match=r"key 'interactions.file'.*names file 'interactions'"):
        load_recipe_file(tmp_path / "c.toml")
    write(tmp_path / "d.toml", text.replace("[split]", "[split"))
    with pytest.raises(RecipeError, match="invalid TOML"):
        load_recipe_file(tmp_path / "d.toml")
    write(tmp_path / "e.toml", text.replace('method = "leave_one_out"', 'method = "loo"'))
    with pytest.raises(RecipeError, match=r"key 'split.method': unknown split method 'loo'"):
        load_recipe_file(tmp_path / "e.toml")


def test_unknown_dataset_lists_close_matches():
    with pytest.raises(RecipeError, match=r"(?s)unknown dataset 'beuaty'.*did you mean beauty"):
        find_recipe("beuaty")


def test_embedded_ml100k_needs_no_data_dir(ml100k):
    s = ml100k.describe()
    assert (s["users"], s["items"], s["interactions"]) == (943, 1682, 100_000)
    assert s["has_timestamps"] and s["text_coverage"] == 1.0
    meta = json.loads((ml100k.path / "meta.json").read_text())
    assert meta["files"]["inter"]["sha256"] == "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"
    title = ml100k.items.filter(pl.col("item_id") == "1")["text"].item()
    assert title.startswith("Toy Story. Categories: Animation")


def test_training_inputs_precede_targets_in_time(ml100k):
    """Leakage audit: no user's train interaction is later than their test interaction."""
    inter = ml100k.interactions
    last_train = inter.filter(pl.col("split") == "train").group_by("user_id").agg(pl.col("timestamp").max())
    test = inter.filter(pl.col("split") == "test").select("user_id", pl.col("timestamp").alias("t_test"))
    joined = last_train.join(test, on="user_id")
    assert len(joined) == 943
    assert (joined["timestamp"] <= joined["t_test"]).all()
