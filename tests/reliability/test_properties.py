"""Property-based tests (hypothesis): what the readers, filters, splits and metrics promise, on any input."""

import math
import os

import numpy as np
import polars as pl
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.data import filters as F
from recsys.data import schema as S
from recsys.data import splits
from recsys.eval.ctr import auc, sample_logloss
from recsys.eval.ranking import TIE_POLICIES, positive_ranks, rank_metrics

# derandomized: the same examples on every run (CI must not be flaky); RECSYS_HYPOTHESIS_EXAMPLES explores more
FAST = settings(max_examples=int(os.environ.get("RECSYS_HYPOTHESIS_EXAMPLES", "60")), deadline=None,
                derandomize="RECSYS_HYPOTHESIS_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.too_slow])


@st.composite
def interactions(draw, max_users=12, max_items=15, max_rows=80):
    n = draw(st.integers(1, max_rows))
    users = draw(st.lists(st.integers(0, max_users - 1), min_size=n, max_size=n))
    items = draw(st.lists(st.integers(0, max_items - 1), min_size=n, max_size=n))
    times = draw(st.lists(st.integers(0, 50), min_size=n, max_size=n))
    return S.canonical(pl.DataFrame({S.USER: [str(u) for u in users], S.ITEM: [str(i) for i in items],
                                     S.TIME: [float(t) for t in times]}))


@FAST
@given(interactions(), st.integers(0, 4), st.integers(0, 4))
def test_k_core_output_really_is_k_core(df, uc, ic):
    out = F.k_core(df, uc, ic)
    if len(out):
        assert out.group_by(S.USER).len()["len"].min() >= uc
        assert out.group_by(S.ITEM).len()["len"].min() >= ic
    # nothing is invented: every kept row is an input row
    assert len(out.join(df, on=[S.USER, S.ITEM, S.TIME, S.ORDER], how="anti")) == 0
    # maximal: a row whose user and item both survive is kept (k-core is the largest such subgraph)
    again = F.k_core(out, uc, ic)
    assert len(again) == len(out)


@FAST
@given(interactions(), st.floats(0, 0.4), st.floats(0.01, 0.4), st.integers(0, 10_000), st.booleans())
def test_ratio_split_partitions_the_data(df, valid, test, seed, per_user):
    out = splits.ratio(df, valid, test, seed, per_user)
    assert len(out) == len(df)
    assert set(out[S.SPLIT].unique()) <= {S.TRAIN, S.VALID, S.TEST}
    key = [S.USER, S.ITEM, S.TIME, S.ORDER]
    assert out.select(key).sort(key).equals(df.select(key).sort(key))  # every row once, none added
    assert out.equals(splits.ratio(df, valid, test, seed, per_user))  # deterministic under its seed


@FAST
@given(interactions())
def test_leave_one_out_takes_each_users_last_interactions(df):
    out = splits.leave_one_out(df, "timestamp")
    assert len(out) == len(df)
    for user, g in out.group_by(S.USER):
        g = g.sort([S.TIME, S.ORDER])
        labels = g[S.SPLIT].to_list()
        assert labels.count(S.TEST) == (1 if len(g) >= 2 else 0)
        assert labels.count(S.VALID) == (1 if len(g) >= 3 else 0)
        if len(g) >= 2:
            assert labels[-1] == S.TEST  # the latest is the test item; nothing after it
        if len(g) >= 3:
            assert labels[-2] == S.VALID


@FAST
@given(interactions(), st.floats(0.05, 0.4), st.floats(0.05, 0.4))
def test_temporal_split_never_trains_on_the_future(df, valid, test):
    out = splits.temporal(df, valid, test)
    assert len(out) == len(df)
    tr = out.filter(pl.col(S.SPLIT) == S.TRAIN)[S.TIME]
    te = out.filter(pl.col(S.SPLIT) == S.TEST)[S.TIME]
    if len(tr) and len(te):
        assert tr.max() <= te.min()


@st.composite
def score_matrices(draw):
    users, items = draw(st.integers(1, 6)), draw(st.integers(2, 12))
    values = draw(st.lists(st.integers(-3, 3), min_size=users * items, max_size=users * items))  # many ties
    scores = torch.tensor(values, dtype=torch.float64).reshape(users, items)
    n_pos = draw(st.integers(1, min(3, items)))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    pos = torch.tensor(np.stack([rng.choice(items, n_pos, replace=False) for _ in range(users)]))
    return scores, pos


@FAST
@given(score_matrices(), st.sampled_from(TIE_POLICIES))
def test_ranking_metrics_are_bounded_and_invariant_to_item_relabelling(data, policy):
    scores, pos = data
    ks = (1, 3, 5)
    m = rank_metrics(positive_ranks(scores, pos, policy, seed=3), ks)
    for name, v in m.items():
        assert np.all(v >= -1e-12) and np.all(v <= 1 + 1e-12), name
    n_pos = pos.shape[1]
    for k in ks:  # facts that hold under every tie policy
        assert np.all(m[f"precision@{k}"] * k <= min(k, n_pos) + 1e-9)
        assert np.all(m[f"recall@{k}"] * n_pos <= min(k, n_pos) + 1e-9)
    if policy != "random":  # relabel the items: same scores, same positives, other ids
        perm = torch.randperm(scores.shape[1], generator=torch.Generator().manual_seed(0))
        inv = torch.argsort(perm)
        m2 = rank_metrics(positive_ranks(scores[:, perm], inv[pos], policy, seed=3), ks)
        for name in m:
            assert np.allclose(m[name], m2[name]), name


@FAST
@given(st.lists(st.tuples(st.booleans(), st.integers(-20, 20)), min_size=2, max_size=200))
def test_auc_and_logloss_bounds_and_invariances(rows):
    y = np.array([r[0] for r in rows], dtype=float)
    s = np.array([r[1] for r in rows], dtype=float) / 4  # exact in floating point, with ties
    a = auc(y, s)
    if 0 < y.sum() < len(y):
        assert 0.0 <= a <= 1.0
        assert math.isclose(auc(y, 3 * s + 1), a)  # any increasing transform of the scores
        assert math.isclose(auc(y, -s), 1 - a, abs_tol=1e-12)  # reversing the order flips it
        perm = np.random.default_rng(0).permutation(len(y))
        assert math.isclose(auc(y[perm], s[perm]), a)  # the order of the samples does not matter
    else:
        assert math.isnan(a)
    p = 1 / (1 + np.exp(-s))
    loss = sample_logloss(y, p)
    assert np.all(loss >= 0) and np.all(np.isfinite(loss))


def test_tied_positives_take_consecutive_places():
    scores = torch.zeros(1, 3, dtype=torch.float64)  # everything tied; items 0 and 1 are positives
    pos = torch.tensor([[0, 1]])
    pess = rank_metrics(positive_ranks(scores, pos, "pessimistic"), (1, 2, 3))
    assert pess["hit@1"][0] == 0 and pess["recall@2"][0] == 0.5 and pess["recall@3"][0] == 1.0
    opt = rank_metrics(positive_ranks(scores, pos, "optimistic"), (1, 2))
    assert opt["precision@1"][0] == 1.0 and opt["recall@2"][0] == 1.0  # not 2 positives at rank 1


@FAST
@given(interactions(), st.sampled_from(["csv", "tsv", "parquet"]))
def test_table_readers_round_trip_any_interactions(df, fmt):
    """Whatever users, items and timestamps a table holds, reading it back gives the same rows in order."""
    import tempfile
    from pathlib import Path

    from recsys.data import readers

    raw = df.select(pl.col(S.USER).alias("u"), pl.col(S.ITEM).alias("i"), pl.col(S.TIME).alias("t"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x.{fmt}"
        if fmt == "parquet":
            raw.write_parquet(path)
        else:
            raw.write_csv(path, separator="," if fmt == "csv" else "\t")
        back = readers.read_interactions(fmt, path, columns={S.USER: "u", S.ITEM: "i", S.TIME: "t"})
    assert back[S.USER].to_list() == df[S.USER].to_list()
    assert back[S.ITEM].to_list() == df[S.ITEM].to_list()
    assert back[S.TIME].to_list() == df[S.TIME].to_list()
    # order is each user's position in the file
    assert back[S.ORDER].to_list() == df.with_columns(pl.int_range(pl.len()).over(S.USER).alias("o"))["o"].to_list()
