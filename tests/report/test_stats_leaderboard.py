"""Statistics against known answers, and the leaderboard's significance marks on constructed results."""

import numpy as np
import polars as pl
import pytest
from scipy import stats as st

from tests.report.constructed import make_store as _store
from recsys.eval.stats import bootstrap_ci, holm, paired_t, wilcoxon
from recsys.report.leaderboard import leaderboard, markdown, recompute_check, write_leaderboard


def test_holm_matches_the_textbook_example():
    # p = (0.01, 0.04, 0.03, 0.005), m = 4: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> 0.02, 0.03, 0.06, 0.06
    assert np.allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]).max() <= 1.0


def test_paired_tests_agree_with_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    b = a - 0.2 + rng.normal(scale=0.5, size=200)
    t = paired_t(a, b)
    assert t.p_value == pytest.approx(st.ttest_rel(a, b).pvalue) and t.mean_diff == pytest.approx(0.2, abs=0.1)
    w = wilcoxon(a, b)
    assert w.p_value == pytest.approx(st.wilcoxon(a - b).pvalue) and w.effect_size > 0
    assert wilcoxon(a, a).p_value == 1.0
    lo, hi = bootstrap_ci(a)
    assert lo < a.mean() < hi


def test_significance_marks_exactly_where_corrected_p_is_small(tmp_path):
    store = _store(tmp_path, {"Better": 0.02, "Same": 0.0, "Tiny": 0.0001})
    board = leaderboard(store, "t", "Base", metrics=("ndcg@10",))
    sig = dict(zip(board["model"], board["significant"]))
    assert sig == {"Base": False, "Better": True, "Same": False, "Tiny": False}
    p = dict(zip(board["model"], board["p_value"]))
    assert p["Base"] is None and p["Better"] < 1e-10
    assert (board.filter(pl.col("significant"))["p_value"] < 0.05).all()
    assert (board.filter(~pl.col("significant") & pl.col("p_value").is_not_null())["p_value"] >= 0.05).all()
    text = markdown(board)
    assert "†" in text.split("| Better")[1].split("\n")[0] and "†" not in text.split("| Same")[1].split("\n")[0]
    assert "**" in text.split("| Better")[1].split("\n")[0]  # best in bold


def test_csv_columns_and_every_cell_recomputes(tmp_path):
    store = _store(tmp_path, {"Better": 0.02})
    csv, md = write_leaderboard(store, tmp_path / "leaderboard", "t", "Base", metrics=("ndcg@10",))
    frame = pl.read_csv(csv)
    for col in ("dataset", "model", "metric", "mean", "std", "seeds", "baseline", "p_value", "significant"):
        assert col in frame.columns
    assert recompute_check(store, csv) == []
    bad = frame.with_columns(pl.when(pl.col("model") == "Better").then(pl.col("mean") + 0.1)
                             .otherwise(pl.col("mean")).alias("mean"))
    bad.write_csv(tmp_path / "bad.csv")
    assert len(recompute_check(store, tmp_path / "bad.csv")) == 1


def test_latex_tables(tmp_path):
    from recsys.report.leaderboard import latex

    board = leaderboard(_store(tmp_path, {"Better": 0.02}), "t", "Base", metrics=("ndcg@10",))
    tex = latex(board)
    assert "\\begin{tabular}" in tex and "\\textbf{" in tex and "$^\\dagger$" in tex
    assert tex.count("\\\\") == 3  # header + two models
