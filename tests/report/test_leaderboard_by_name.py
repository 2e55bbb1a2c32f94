"""A leaderboard by the suite's own name (its file kept in the store), and one of every run in a store
(``recsys train`` runs included)."""

from recsys.cli import main
from tests.conftest import write

SUITE = """
name = "toys-small"
datasets = ["ml-100k"]
seeds = [1, 2]
baseline = "MostPop"
metrics = ["ndcg@10", "hit@20"]
[defaults]
epochs = 2
train_batch_size = 4096
progress = false
[models.MostPop]
[models.BPR]
"""


def test_leaderboard_by_suite_name_reads_the_kept_suite_file(tmp_path, capsys):
    suite = write(tmp_path / "elsewhere" / "my-suite.toml", SUITE)
    results, out = tmp_path / "results", tmp_path / "lb"
    assert main(["bench", "--suite", str(suite), "--results", str(results), "--quiet"]) == 0
    assert (results / "suites" / "toys-small.toml").read_text() == SUITE
    capsys.readouterr()
    assert main(["leaderboard", "--suite", "toys-small", "--results", str(results), "--out", str(out)]) == 0
    text = (out / "toys-small.md").read_text()
    assert "hit@20" in text and "MostPop (baseline)" in text  # the suite's metrics and baseline, by name


def test_a_leaderboard_of_every_run_in_a_store(tmp_path, capsys):
    results, out = tmp_path / "results", tmp_path / "lb"
    for model in ("MostPop", "BPR"):
        assert main(["train", "--model", model, "--dataset", "ml-100k", "--set", "epochs=2", "--set",
                     "train_batch_size=4096", "--results", str(results), "--quiet"]) == 0
    assert main(["leaderboard", "--all-runs", "--baseline", "MostPop", "--results", str(results),
                 "--out", str(out)]) == 0
    text = (out / "all-runs.md").read_text()
    assert "| BPR" in text and "MostPop (baseline)" in text
