"""CTR data: recipes with side-feature joins, derived labels and scenarios, and their tensors."""

import numpy as np
import polars as pl
import pytest

from recsys.data import prepare
from recsys.data.context_tensors import ContextTensors
from recsys.data.recipe import load_recipe_file
from recsys.errors import DataError, RecipeError
from tests.conftest import REPO, write


@pytest.fixture(scope="module")
def ms100k():
    return prepare("ms-ml-100k", progress=False)


def test_ml100k_label_scenario_and_features_follow_the_raw_files(ms100k):
    df = ms100k.interactions
    users = pl.read_csv(REPO / "recsys/recipes/ml-100k/ml-100k.user", separator="\t")
    users = users.rename({c: c.split(":")[0] for c in users.columns}).with_columns(pl.col("user_id").cast(pl.String))
    joined = df.join(users, on="user_id", suffix="_raw")
    assert len(joined) == 100_000
    assert (joined["label"] == (joined["rating"] > 3).cast(pl.Float64)).all()
    expected = pl.when(pl.col("age_raw") < 25).then(pl.lit("under-25")).when(pl.col("age_raw") < 35) \
        .then(pl.lit("25-34")).otherwise(pl.lit("35-plus"))
    assert (joined["scenario"] == joined.select(expected)["literal"]).all()
    assert (joined["gender"] == joined["gender_raw"]).all()
    assert ms100k.meta["context_fields"]["dense"] == ["age"]
    # the first listed genre of the movie, and the release year
    toy = df.filter(pl.col("item_id") == "1").row(0, named=True)
    assert toy["genre"] == "Animation" and toy["year"] == "1995"
    sizes = ms100k.describe()["splits"]
    assert sizes == {"test": 10_000, "train": 80_000, "valid": 10_000}


def test_ml_latest_small_scenario_is_the_first_genre(shared_data):
    ds = prepare("ms-ml-latest-small", shared_data, progress=False)
    movies = pl.read_csv(shared_data / "movielens/lenskit/data/ml-latest-small/movies.csv")
    first = movies.select(pl.col("movieId").cast(pl.String).alias("item_id"),
                          pl.col("genres").str.split("|").list.first().alias("g"))
    j = ds.interactions.join(first, on="item_id")
    want = j["g"].replace_strict({"Action": "action", "Comedy": "comedy", "Drama": "drama"}, default="other")
    assert (j["scenario"] == want).all()
    assert j.filter(pl.col("item_id") == "1")["year"][0] == "1995"  # Toy Story (1995)
    assert set(ds.describe()["scenarios"]) == {"action", "comedy", "drama", "other"}


def test_tensors_scale_dense_features_by_the_training_split_only(ms100k):
    t = ContextTensors(ms100k)
    train = t.splits["train"]
    age = t.values["age"]
    assert float(age[train].min()) == 0.0 and float(age[train].max()) == 1.0
    assert float(age.min()) >= 0.0 and float(age.max()) <= 1.0
    assert t.token_fields[-1] == "scenario" and t.n_scenarios == 3
    batch = t.batch(train[:5])
    assert batch["age"].shape == (5, 2) and (batch["age"][:, 1] == 0).all()  # RecBole 1.2's [value, index]
    assert batch["user_id"].dtype.is_floating_point is False and int(batch["user_id"].min()) >= 1
    # ids never depend on the split: a value's id is its rank of first appearance over the whole table
    gender = ms100k.interactions["gender"].to_numpy()
    ids = t.values["gender"].numpy()
    for value in ("M", "F"):
        assert len(set(ids[gender == value])) == 1


def test_scenario_wise_rec_samples_prepare_without_leaking_labels(shared_data):
    for name, scenarios in (("ms-douban", 3), ("ms-mind", 4), ("ms-ali-ccp", 3), ("ms-kuairand", 1)):
        ds = prepare(name, shared_data, progress=False)
        t = ContextTensors(ds)
        assert t.n_scenarios == scenarios
        assert set(np.unique(t.label.numpy())) <= {0.0, 1.0}
        fields = set(t.token_fields) | set(t.float_fields)
        assert not fields & {"purchase", "click", "is_click", "play_time_ms", "label"}, name


BASE = '''name = "toy-ctr"
description = "toy"
task = "multi_scenario"

[files.inter]
path = "inter.csv"

[files.users]
path = "users.csv"

[interactions]
file = "inter"
format = "csv"
columns = {{ user_id = "u", item_id = "i", rating = "r" }}

[split]
method = "ratio"
seed = 1

{context}
'''


def _toy(tmp_path, context: str):
    write(tmp_path / "data/inter.csv", "u,i,r\n" + "\n".join(f"{k % 7},{k % 11},{1 + k % 5}" for k in range(200)))
    write(tmp_path / "data/users.csv", "uid,age,sex\n" + "\n".join(f"{u},{18 + 5 * u},{'MF'[u % 2]}" for u in range(7)))
    return write(tmp_path / "toy.toml", BASE.format(context=context))


def test_recipe_errors_name_the_key(tmp_path):
    with pytest.raises(RecipeError, match="context.scenario.names"):
        load_recipe_file(_toy(tmp_path, '[context]\nlabel = { column = "rating", above = 3 }\n'
                                        'scenario = { column = "age", bins = [30], names = ["a"] }'))
    with pytest.raises(RecipeError, match="context.labl"):
        load_recipe_file(_toy(tmp_path, '[context]\nlabl = "x"'))
    with pytest.raises(RecipeError, match="a CTR dataset needs a label"):
        load_recipe_file(_toy(tmp_path, ""))
    recipe = load_recipe_file(_toy(tmp_path, '[context]\nlabel = { column = "rating", above = 3 }\n'
                                             '[[context.join]]\nfile = "users"\nkey = "user_id"\non = "uid"\n'
                                             'columns = { gender = "gender" }'))
    with pytest.raises(DataError, match="users.csv, column 'gender'"):
        prepare(recipe, tmp_path / "data", progress=False)
    recipe = load_recipe_file(_toy(tmp_path, '[context]\nlabel = "rating"'))
    with pytest.raises(RecipeError, match="labels must be 0 or 1"):
        prepare(recipe, tmp_path / "data", progress=False)


def test_a_users_own_ctr_recipe(tmp_path):
    recipe = load_recipe_file(_toy(tmp_path, '[context]\nlabel = { column = "rating", above = 3 }\n'
                                             'scenario = { column = "age", bins = [30], names = ["young", "old"] }\n'
                                             'sparse = ["user_id", "item_id", "sex"]\ndense = ["age"]\n'
                                             '[[context.join]]\nfile = "users"\nkey = "user_id"\non = "uid"\n'
                                             'columns = { age = "age", sex = "sex" }'))
    ds = prepare(recipe, tmp_path / "data", progress=False)
    df = ds.interactions
    assert df.filter(pl.col("user_id") == "0")["scenario"].unique().to_list() == ["young"]  # age 18
    assert df.filter(pl.col("user_id") == "6")["scenario"].unique().to_list() == ["old"]  # age 48
    assert (df["label"] == (df["rating"] > 3).cast(pl.Float64)).all()
    t = ContextTensors(ds)
    assert t.token_fields == ["user_id", "item_id", "sex", "scenario"] and t.float_fields == ["age"]


def test_every_shipped_ctr_recipe_validates():
    from recsys.data.recipe import available

    names = [n for n in available() if n.startswith("ms-")]
    assert {"ms-ml-1m", "ms-kuairand-1k", "ms-ali-ccp-full", "ms-amazon-5core", "ms-douban-full", "ms-mind-full"} <= set(names)
    for name in names:
        recipe = load_recipe_file(available()[name])
        assert recipe.task == "multi_scenario"


def test_ml1m_recipe_reads_the_dat_files(tmp_path):
    """The shipped ML-1M recipe on a three-user copy of the original layout ('::', latin-1 titles)."""
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text("".join(f"{u}::{i}::{1 + (u + i) % 5}::97830{u}{i}\n"
                                                for u in (1, 2, 3) for i in (10, 20, 30, 40)))
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::25::16::70072\n3::M::56::15::55117\n")
    (folder / "movies.dat").write_bytes("10::Café Society (1995)::Drama|Romance\n20::Heat (1995)::Action|Crime\n"
                                        "30::Jumanji (1995)::Adventure\n40::Babe (1995)::Children's\n".encode("latin-1"))
    ds = prepare(REPO / "recsys/recipes/ms-ml-1m.toml", tmp_path, progress=False)
    df = ds.interactions
    assert dict(df.group_by("user_id").agg(pl.col("scenario").first()).iter_rows()) == \
        {"1": "under-25", "2": "25-34", "3": "35-plus"}
    assert df.filter(pl.col("item_id") == "20")["genre"][0] == "Action"
    assert df.filter(pl.col("item_id") == "10")["year"][0] == "1995"
    assert (df["label"] == (df["rating"] > 3).cast(pl.Float64)).all()
