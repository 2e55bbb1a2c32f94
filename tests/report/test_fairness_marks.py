"""The leaderboard says where a comparison is not like for like: fewer than 3 seeds, unconverged runs,
mixed loss families, and each row's tuning budget."""

import polars as pl

from recsys.bench.fairness import record_converged, record_loss_family
from recsys.report.leaderboard import leaderboard, markdown
from tests.report.constructed import make_store


def _line(text: str, model: str) -> str:
    return text.split(f"| {model}")[1].split("\n")[0]


def test_fewer_than_three_seeds_show_n_and_no_spread(tmp_path):
    store = make_store(tmp_path, {"Better": 0.02}, seeds=(1,))
    text = markdown(leaderboard(store, "t", "Base", metrics=("ndcg@10",)))
    assert "(n=1)" in _line(text, "Better") and "±" not in _line(text, "Better")
    store3 = make_store(tmp_path / "three", {"Better": 0.02}, seeds=(1, 2, 3))
    text3 = markdown(leaderboard(store3, "t", "Base", metrics=("ndcg@10",)))
    assert "±" in _line(text3, "Better") and "(n=" not in text3


def test_unconverged_and_mixed_objectives_are_marked(tmp_path):
    capped = {"fit": {"epochs_run": 30, "best_epoch": 30, "stopped_early": False}, "config": {"stopping_step": 5}}
    store = make_store(tmp_path, {"Capped": 0.01, "Other": 0.01, "Tuned": 0.01}, seeds=(1, 2, 3), extra={
        "Base": {"loss_family": "softmax-ce"}, "Capped": {"loss_family": "softmax-ce", **capped},
        "Other": {"loss_family": "bce"},
        "Tuned": {"loss_family": "softmax-ce", "tuning": {"trials": 10, "params": {"learning_rate": 0.003}}}})
    board = leaderboard(store, "t", "Base", metrics=("ndcg@10",))
    text = markdown(board)
    assert "⚠" in _line(text, "Capped") and "‡" not in _line(text, "Capped")
    assert "‡" in _line(text, "Other") and "⚠" not in _line(text, "Other")
    assert "| bce |" in _line(text, "Other")
    assert "| 10 |" in _line(text, "Tuned") and "not like for like" in text and "not converged" in text
    row = board.filter(pl.col("model") == "Tuned").row(0, named=True)
    assert row["trials"] == 10 and '"learning_rate": 0.003' in row["tuned"]


def test_convergence_and_loss_family_of_older_records():
    patience5 = {"stopping_step": 5}
    assert not record_converged({"fit": {"epochs_run": 30, "best_epoch": 27}, "config": patience5})
    assert record_converged({"fit": {"epochs_run": 30, "best_epoch": 25}, "config": patience5})
    assert record_converged({"fit": {"epochs_run": 12, "best_epoch": 12, "stopped_early": True}, "config": {}})
    assert not record_converged({"fit": {"converged": False}})
    assert record_loss_family({"objective": "full_sequence", "config": {"loss_type": "CE"}}) == "softmax-ce"
    assert record_loss_family({"objective": "full_sequence", "config": {"sequence_loss": "bce"}}) == "bce"
    assert record_loss_family({"objective": "pairwise", "model": "LightGCN", "config": {}}) == "bpr"
    assert record_loss_family({"objective": "pairwise", "model": "HNLMRec", "config": {}}) == "hinge"
    assert record_loss_family({"objective": "none", "config": {"backbone_config": {"sequence_loss": "bce"}}}) == "bce"
    assert record_loss_family({"loss_family": "gbce", "objective": "full_sequence"}) == "gbce"
