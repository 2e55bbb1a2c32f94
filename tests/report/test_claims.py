"""The claims ledger: verdicts on constructed results with known answers, fairness reasons, and the
committed ledger recomputed from the committed store."""

from pathlib import Path

import polars as pl
import pytest

from recsys.report.claims import CSV_COLUMNS, check_claims, load_ledger, write_claims
from recsys.bench.store import ResultsStore
from recsys.errors import RecipeError
from tests.conftest import write
from tests.report.constructed import make_store

ROOT = Path(__file__).resolve().parents[2] / "leaderboard"
FAIR = {"loss_family": "softmax-ce", "tuning": {"trials": 10, "params": {}}}


def _ledger(tmp_path, model, metric="ndcg@10", direction="higher"):
    return load_ledger(write(tmp_path / "ledger" / "p.toml", f"""
paper = "P"
[[claims]]
id = "c"
text = "{model} beats Base"
suite = "t"
model = "{model}"
baseline = "Base"
metric = "{metric}"
datasets = ["d"]
direction = "{direction}"
""").parent)


@pytest.mark.parametrize("gain,verdict", [(0.02, "holds"), (-0.02, "reversed"), (0.0, "not significant")])
def test_verdicts_follow_the_paired_evidence(tmp_path, gain, verdict):
    store = make_store(tmp_path, {"New": gain}, seeds=(1, 2, 3), extra={"Base": FAIR, "New": FAIR})
    (row,) = check_claims(store, _ledger(tmp_path, "New"))
    assert row["verdict"] == verdict and row["reason"] == ""
    if gain:
        assert row["ci_low"] < row["effect"] < row["ci_high"] and (row["effect"] > 0) == (gain > 0)
        assert row["effect"] == pytest.approx(gain, abs=0.002)


def test_an_unfair_comparison_is_not_checkable_and_says_why(tmp_path):
    capped = {"fit": {"epochs_run": 30, "best_epoch": 30}, "config": {"stopping_step": 5}}
    store = make_store(tmp_path, {"New": 0.02}, seeds=(1, 2), extra={
        "Base": {"loss_family": "softmax-ce"}, "New": {"loss_family": "bce", **capped}})
    (row,) = check_claims(store, _ledger(tmp_path, "New"))
    assert row["verdict"] == "not checkable" and row["evidence"] == "holds"
    for part in ("fewer than 3 seeds", "unconverged", "neither side tuned", "different loss families"):
        assert part in row["reason"]
    (missing,) = check_claims(store, _ledger(tmp_path, "Absent"))
    assert missing["verdict"] == "not checkable" and "no runs of Absent" in missing["reason"]


def test_holm_correction_is_over_a_papers_rows(tmp_path):
    store = make_store(tmp_path, {"A": 0.02, "B": 0.0}, seeds=(1, 2, 3), extra={k: FAIR for k in ("Base", "A", "B")})
    ledger = write(tmp_path / "l2" / "p.toml", """
paper = "P"
[[claims]]
id = "a"
text = "A beats Base"
suite = "t"
model = "A"
baseline = "Base"
metric = "ndcg@10"
datasets = ["d"]
[[claims]]
id = "b"
text = "B beats Base"
suite = "t"
model = "B"
baseline = "Base"
metric = "ndcg@10"
datasets = ["d"]
""").parent
    rows = check_claims(store, load_ledger(ledger))
    assert all(r["p_holm"] >= r["p_raw"] for r in rows)
    smallest = min(rows, key=lambda r: r["p_raw"])
    assert smallest["p_holm"] == pytest.approx(min(1.0, 2 * smallest["p_raw"]))  # m = 2 rows in the paper


def test_ledger_files_are_checked(tmp_path):
    with pytest.raises(RecipeError, match=r"claims\[0\].metric"):
        load_ledger(write(tmp_path / "x" / "p.toml", 'paper = "P"\n[[claims]]\nid = "a"\ntext = "t"\nsuite = "s"\n'
                          'model = "m"\nbaseline = "b"\ndatasets = ["d"]\n').parent)
    assert len(load_ledger()) >= 10  # the shipped ledger loads


def test_the_committed_ledger_recomputes_from_the_committed_store(tmp_path):
    committed = ROOT / "claims.csv"
    assert committed.is_file(), "leaderboard/claims.csv missing: run `recsys claims --results leaderboard/results`"
    csv, _, _ = write_claims(ResultsStore(ROOT / "results"), tmp_path)
    fresh, old = pl.read_csv(csv), pl.read_csv(committed)
    assert list(old.columns) == CSV_COLUMNS
    assert fresh.select("paper", "claim", "dataset", "verdict", "evidence", "reason").equals(
        old.select("paper", "claim", "dataset", "verdict", "evidence", "reason"))
    for col in ("effect", "p_holm"):
        a, b = fresh[col].fill_null(0.0).to_numpy(), old[col].fill_null(0.0).to_numpy()
        assert abs(a - b).max() < 1e-9
