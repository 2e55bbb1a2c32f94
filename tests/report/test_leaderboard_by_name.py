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


def test_a_row_labelled_with_its_backend_is_tested_against_its_entrys_baseline(tmp_path):
    """Suites name entries; rows carry the LLM backend in their label. The per-entry baseline must still apply,
    and a baseline entry that is itself labelled must be found (the hard-negatives suite had no † at all)."""
    from recsys.report.leaderboard import leaderboard
    from tests.report.constructed import make_store

    extra = {"X": {"label": "X (contrast-text fallback)"}, "Y": {"label": "Y (nearest-text fallback)"},
             "Base": {"label": "Base (nearest-text fallback)"}}
    store = make_store(tmp_path, {"X": 0.02, "Y": 0.03}, seeds=(1, 2, 3), extra=extra)
    board = leaderboard(store, "t", {"X": "Base", "Y": "X", "Base": "Base"}, metrics=("ndcg@10",))
    rows = {r["model"]: r for r in board.iter_rows(named=True)}
    assert rows["X (contrast-text fallback)"]["baseline"] == "Base (nearest-text fallback)"
    assert rows["X (contrast-text fallback)"]["significant"]
    assert rows["Y (nearest-text fallback)"]["baseline"] == "X (contrast-text fallback)"
    assert rows["Y (nearest-text fallback)"]["p_value"] is not None
