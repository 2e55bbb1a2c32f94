"""A catalogue of bad inputs, each with the clear error it must get (what is wrong, where, how to fix).

Every case names a file, a line, a column or a key, and nothing already prepared or stored changes.
"""

import pytest

from recsys.bench.suite import load_suite
from recsys.cli import main
from recsys.data import prepare
from recsys.data.recipe import load_recipe_file
from recsys.errors import DataError, RecipeError
from recsys.train.config import ConfigError
from recsys.train.run import train_run
from tests.conftest import write

RECIPE = '''name = "toy"
description = "toy"
task = "general"

[files.inter]
path = "inter.csv"

[interactions]
file = "inter"
format = "csv"
columns = {{ user_id = "u", item_id = "i", timestamp = "t" }}
{extra_inter}
[split]
method = "ratio"
seed = 1
{extra}
'''
GOOD = "u,i,t\n" + "\n".join(f"{k % 9},{k % 13},{k}" for k in range(120)) + "\n"

# (name, raw file bytes, recipe additions (interactions, top level), expected error, expected text)
RAW_CASES = [
    ("not UTF-8", b"u,i,t\n1,\xff\xfe,3\n", "", "", DataError, "inter.csv"),
    ("semicolons instead of commas", GOOD.replace(",", ";").encode(), "", "", DataError, "column not found"),
    ("missing column", b"u,i\n1,2\n", "", "", DataError, "column 't'"),
    ("non-numeric timestamp", b"u,i,t\n1,2,yesterday\n", "", "", DataError, "line 2, column 't'"),
    ("empty file", b"", "", "", DataError, "inter.csv"),
    ("header only", b"u,i,t\n", "", "", DataError, "no interactions"),
    ("filters empty the data", GOOD.encode(), "", "[filters]\nuser_core = 1000\n", DataError, "filtering left no"),
    ("duplicate rows are handled by dedup", (GOOD + GOOD.split("\n", 1)[1]).encode(), "",
     "[filters]\ndedup = \"first\"\n", None, ""),
    ("unknown interaction key", GOOD.encode(), "colums = {}\n", "", RecipeError, "did you mean 'columns'"),
    ("unknown filter key", GOOD.encode(), "", "[filters]\nusr_core = 5\n", RecipeError, "filters.usr_core"),
    ("bad split shares", GOOD.encode(), "", "", RecipeError, None),
]


@pytest.mark.parametrize("name,raw,inter,extra,error,text", RAW_CASES, ids=[c[0] for c in RAW_CASES])
def test_bad_raw_data_and_recipes(tmp_path, name, raw, inter, extra, error, text):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "inter.csv").write_bytes(raw)
    body = RECIPE.format(extra_inter=inter, extra=extra)
    if name == "bad split shares":
        body = body.replace("seed = 1", "seed = 1\nvalid = 0.7\ntest = 0.6")
        error, text = DataError, "valid + test < 1"
    path = write(tmp_path / "toy.toml", body)
    if error is None:
        ds = prepare(load_recipe_file(path), tmp_path / "data", progress=False)
        assert ds.describe()["interactions"] == 117  # one row per (user, item) pair: 117 distinct pairs
        return
    with pytest.raises(error) as info:
        prepare(load_recipe_file(path), tmp_path / "data", progress=False)
    if text:
        assert text in str(info.value), str(info.value)


SUITE_CASES = [
    ("not TOML", "name = \n", "invalid TOML"),
    ("missing models", 'name = "s"\ndatasets = ["ml-100k"]\nseeds = [1]\n', "key 'models'"),
    ("unknown key", 'name = "s"\ndatasets = ["ml-100k"]\nseeds = [1]\nbasline = "BPR"\n[models.BPR]\n',
     "did you mean 'baseline'"),
    ("seeds as strings", 'name = "s"\ndatasets = ["ml-100k"]\nseeds = ["1"]\n[models.BPR]\n', "key 'seeds'"),
    ("datasets as a string", 'name = "s"\ndatasets = "ml-100k"\nseeds = [1]\n[models.BPR]\n', "key 'datasets'"),
    ("baseline not an entry", 'name = "s"\ndatasets = ["ml-100k"]\nseeds = [1]\nbaseline = "Pop"\n[models.BPR]\n',
     "key 'baseline'"),
]


@pytest.mark.parametrize("name,text,expected", SUITE_CASES, ids=[c[0] for c in SUITE_CASES])
def test_bad_suite_files(tmp_path, name, text, expected):
    path = write(tmp_path / "suite.toml", text)
    with pytest.raises(RecipeError) as info:
        load_suite(str(path))
    assert expected in str(info.value) and str(path) in str(info.value)


CONFIG_CASES = [
    ("unknown key", {"learning_rat": 0.01}, "did you mean learning_rate"),
    ("epochs as text", {"epochs": "ten"}, "epochs = 'ten': expected an integer >= 1"),
    ("zero epochs", {"epochs": 0}, "expected an integer >= 1"),
    ("negative learning rate", {"learning_rate": -0.1}, "expected a number > 0"),
    ("batch size as float", {"train_batch_size": 12.5}, "train_batch_size"),
    ("unknown tie policy", {"tie_policy": "lucky"}, "one of pessimistic"),
    ("topk as a number", {"topk": 10}, "a list of integers"),
    ("model size as text", {"hidden_size": "big"}, "hidden_size = 'big': expected an integer"),
    ("negative model size", {"hidden_size": -4}, "expected an integer >= 1"),
    ("dropout above 1", {"hidden_dropout_prob": 1.5}, "a probability in [0, 1)"),
]


@pytest.mark.parametrize("name,overrides,expected", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_model_configs(ml100k, name, overrides, expected):
    with pytest.raises(ConfigError) as info:
        train_run("SASRec", ml100k, {"epochs": 1, **overrides} if "epochs" not in overrides else overrides)
    assert expected in str(info.value), str(info.value)


CLI_CASES = [
    (["bench", "--suite", "no-such-suite"], "unknown suite"),
    (["train", "--model", "SASRec", "--dataset", "no-such-data"], "unknown dataset"),
    (["train", "--model", "NoSuchModel", "--dataset", "ml-100k"], "unknown model"),
    (["train", "--model", "SASRec", "--dataset", "ml-100k", "--set", "epochs"], "--set"),
]


@pytest.mark.parametrize("argv,expected", CLI_CASES, ids=[" ".join(c[0][:2]) + f"-{i}" for i, c in enumerate(CLI_CASES)])
def test_bad_command_lines(capsys, argv, expected):
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0 and expected in err and "Traceback" not in err, err
