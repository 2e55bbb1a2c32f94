"""Statistics against known answers, and the leaderboard's significance marks on constructed results."""

import numpy as np
import polars as pl
import pytest
from scipy import stats as st

from recsys.eval.stats import bootstrap_ci, holm, paired_t, wilcoxon
from recsys.report.leaderboard import (
    leaderboard,
    markdown,
    recompute_check,
)
from recsys.report.publish import write_leaderboard
from tests.report.constructed import make_store as _store


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


def test_split_qualified_metrics_read_their_own_split(tmp_path):
    """``test_ood/ndcg@10`` reads the OOD split's summary and per-user values; ``ndcg@10`` reads ``test``."""
    from recsys.bench.store import ResultsStore

    store = ResultsStore(tmp_path / "results")
    rng = np.random.default_rng(2)
    iid, ood = rng.uniform(0, 0.2, 200), rng.uniform(0, 0.05, 200)
    for model, gain_iid, gain_ood in (("Base", 0.0, 0.0), ("Robust", -0.001, 0.03)):
        for seed in (1, 2):
            a = np.clip(iid + gain_iid + rng.normal(scale=1e-3, size=200), 0, 1)
            b = np.clip(ood + gain_ood + rng.normal(scale=1e-3, size=200), 0, 1)
            record = {"run_id": f"{model}-{seed}", "suite": "o", "model": model, "label": model, "dataset": "d",
                      "seed": seed, "status": "ok", "wall_seconds": 1.0,
                      "test": {"test": {"ndcg@10": float(a.mean())}, "test_ood": {"ndcg@10": float(b.mean())}},
                      "provenance": {"config_hash": "c", "dataset_fingerprint": "f", "git_commit": "g",
                                     "tie_policy": "pessimistic", "llm_backends": {}}}
            store.save(record, {"test": pl.DataFrame({"user_idx": np.arange(200), "ndcg@10": a}),
                                "test_ood": pl.DataFrame({"user_idx": np.arange(200), "ndcg@10": b})})
    csv, _ = write_leaderboard(store, tmp_path / "lb", "o", "Base", metrics=("ndcg@10", "test_ood/ndcg@10"))
    board = pl.read_csv(csv)
    robust = {r["metric"]: r for r in board.filter(pl.col("model") == "Robust").iter_rows(named=True)}
    assert robust["test_ood/ndcg@10"]["mean"] > robust["ndcg@10"]["mean"] - 0.1  # read from test_ood
    assert robust["test_ood/ndcg@10"]["mean"] == pytest.approx(float(np.mean(
        [r["test"]["test_ood"]["ndcg@10"] for r in store.records() if r["model"] == "Robust"])))
    assert robust["test_ood/ndcg@10"]["significant"] and robust["ndcg@10"]["p_value"] is not None
    assert recompute_check(store, csv) == []
    assert "test_ood/ndcg@10" in (tmp_path / "lb" / "o.md").read_text()


def _ctr_store(tmp_path):
    """Per-sample CTR results: 'Sharp' separates the labels better than the baseline; 'Blunt' is the
    baseline's predictions with noise; each has its own baseline in the second comparison."""
    from recsys.bench.store import ResultsStore
    from recsys.eval.ctr import ctr_summary, sample_logloss

    store = ResultsStore(tmp_path / "results")
    rng = np.random.default_rng(3)
    n = 2000
    y = rng.integers(0, 2, n).astype(float)
    scen = np.where(np.arange(n) % 2 == 0, "a", "b")
    base_logit = 0.8 * (y - 0.5) + rng.normal(size=n)
    for model, logit_fn in (("LR", lambda s: base_logit + rng.normal(scale=0.05, size=n)),
                            ("Sharp", lambda s: 2.0 * base_logit + 1.0 * (y - 0.5) + rng.normal(scale=0.05, size=n)),
                            ("Blunt", lambda s: base_logit + rng.normal(scale=0.05, size=n))):
        for seed in (1, 2):
            p = 1 / (1 + np.exp(-logit_fn(seed)))
            summary = ctr_summary(y, p, np.arange(n) % 50, {"scenario": scen})
            record = {"run_id": f"{model}-{seed}", "suite": "c", "model": model, "label": model, "dataset": "d",
                      "seed": seed, "status": "ok", "wall_seconds": 1.0, "test": {"test": summary},
                      "provenance": {"config_hash": "c", "dataset_fingerprint": "f", "git_commit": "g",
                                     "tie_policy": "n/a", "llm_backends": {}}}
            store.save(record, {"test": pl.DataFrame({"user_idx": np.arange(n) % 50, "row": np.arange(n), "label": y,
                                                      "prediction": p, "logloss": sample_logloss(y, p),
                                                      "group_scenario": np.char.add("scenario:", scen)})})
    return store


def test_ctr_metrics_use_delong_and_lower_logloss_is_best(tmp_path):
    store = _ctr_store(tmp_path)
    csv, md = write_leaderboard(store, tmp_path / "lb", "c", "LR", metrics=("auc", "logloss", "auc|scenario:a"),
                                html=False)
    board = pl.read_csv(csv)
    sharp = {r["metric"]: r for r in board.filter(pl.col("model") == "Sharp").iter_rows(named=True)}
    blunt = {r["metric"]: r for r in board.filter(pl.col("model") == "Blunt").iter_rows(named=True)}
    assert sharp["auc"]["test"] == "delong" and sharp["auc"]["significant"]
    assert sharp["auc|scenario:a"]["test"] == "delong" and sharp["auc|scenario:a"]["significant"]
    assert sharp["logloss"]["test"] == "paired-t"
    assert not blunt["auc"]["significant"]  # the same predictions up to noise
    best_logloss = board.filter(pl.col("metric") == "logloss")["mean"].min()
    text = md.read_text()
    assert f"**{best_logloss:.4f}" in text  # LogLoss: the lowest is bold
    assert recompute_check(store, csv) == []


def test_each_model_may_have_its_own_baseline(tmp_path):
    store = _ctr_store(tmp_path)
    board = leaderboard(store, "c", {"Sharp": "Blunt", "Blunt": "LR"}, metrics=("auc",))
    rows = {r["model"]: r for r in board.iter_rows(named=True)}
    assert rows["Sharp"]["baseline"] == "Blunt" and rows["Sharp"]["significant"]
    assert rows["Blunt"]["baseline"] == "LR" and rows["LR"]["p_value"] is None
