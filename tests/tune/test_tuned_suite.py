"""A suite with [tune]: every trainable entry gets the same trial budget on validation, the chosen values
run every cell, and the leaderboard shows each row's budget and values."""

import pytest

from recsys.bench.runner import run_suite
from recsys.bench.store import ResultsStore
from recsys.bench.suite import load_suite
from recsys.errors import RecipeError
from recsys.report.leaderboard import leaderboard
from tests.conftest import write

SUITE = """
name = "tuned"
datasets = ["ml-100k"]
seeds = [1]
baseline = "BPR"
[tune]
trials = 3
pruner = "none"
[defaults]
epochs = 2
train_batch_size = 4096
progress = false
[models.BPR]
[models.Pop]
model = "MostPop"
[models.LightGCN]
n_layers = 1
search_space = { learning_rate = ["log", 1e-4, 1e-2], reg_weight = ["log", 1e-6, 1e-3] }
"""


def test_every_entry_gets_the_same_budget_and_runs_its_best_values(tmp_path):
    suite = load_suite(str(write(tmp_path / "tuned.toml", SUITE)))
    store = ResultsStore(tmp_path / "results")
    lines = []
    records = run_suite(suite, store, echo=lines.append)
    tuned = {r["model"]: r.get("tuning") for r in records}
    assert tuned["BPR"]["trials"] == tuned["LightGCN"]["trials"] == 3
    assert set(tuned["LightGCN"]["params"]) == {"learning_rate", "reg_weight"}  # the entry's own space
    assert tuned["Pop"] is None  # nothing to tune: MostPop has no gradient training
    for r in records:
        for key, value in (r.get("tuning") or {}).get("params", {}).items():
            assert r["config"][key] == value  # the cell ran the chosen values
    board = leaderboard(store, "tuned", "BPR", metrics=("ndcg@10",))
    assert dict(zip(board["model"], board["trials"])) == {"BPR": 3, "LightGCN": 3, "Pop": 0}
    again = []  # a second run reuses the finished studies and cells
    run_suite(suite, store, echo=again.append)
    assert all("done earlier" in x for x in again if x.startswith("["))
    assert sum("trial " in x for x in again) == 0


def test_tune_table_is_checked(tmp_path):
    bad = SUITE.replace("trials = 3", "trials = 0")
    with pytest.raises(RecipeError, match="tune.trials"):
        load_suite(str(write(tmp_path / "bad.toml", bad)))
    with pytest.raises(RecipeError, match="tune.trails"):
        load_suite(str(write(tmp_path / "bad2.toml", SUITE.replace("pruner", "trails"))))


def test_tuned_as_takes_the_other_entrys_values_without_a_study_of_its_own(tmp_path):
    """Two rows that differ in one input only (a backend beside its fallback) must share every tuned value."""
    text = """
name = "twin"
datasets = ["ml-100k"]
seeds = [1]
[tune]
trials = 2
pruner = "none"
[defaults]
epochs = 1
train_batch_size = 4096
progress = false
[models.BPR]
[models."BPR (twin)"]
model = "BPR"
embedding_size = 32
tuned_as = "BPR"
"""
    suite = load_suite(str(write(tmp_path / "twin.toml", text)))
    lines = []
    records = {r["model"]: r for r in run_suite(suite, ResultsStore(tmp_path / "results"), echo=lines.append)}
    bpr, twin = records["BPR"], records["BPR (twin)"]
    assert twin["tuning"]["params"] == bpr["tuning"]["params"] and twin["tuning"]["tuned_as"] == "BPR"
    assert all(twin["config"][k] == v for k, v in bpr["tuning"]["params"].items())
    assert twin["config"]["embedding_size"] == 32  # its own keys stay its own
    assert sum(x.startswith("tuning BPR (twin)") for x in lines) == 0  # no study, no trials spent
    with pytest.raises(RecipeError, match="tuned_as"):
        load_suite(str(write(tmp_path / "bad.toml", text.replace('tuned_as = "BPR"', 'tuned_as = "BRP"'))))
