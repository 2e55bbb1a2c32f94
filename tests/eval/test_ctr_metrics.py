"""CTR metrics against their definitions: AUC as pair counting, GAUC, LogLoss, and DeLong's variance."""

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from recsys.eval.ctr import auc, gauc, sample_logloss
from recsys.eval.stats import delong


def pair_auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size


def test_auc_is_pair_counting_with_half_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + y, 1)  # rounding makes ties
    assert auc(y, s) == pytest.approx(pair_auc(y, s), abs=1e-12)
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert np.isnan(auc(np.ones(5), np.arange(5)))


def test_logloss_and_gauc():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500).astype(float)
    p = np.clip(rng.uniform(size=500), 0.01, 0.99)
    assert sample_logloss(y, p).mean() == pytest.approx(log_loss(y, p), rel=1e-9)
    users = rng.integers(0, 20, 500)
    users[:10] = 99  # one user with only positives is skipped
    y[:10] = 1
    expected_num, expected_den = 0.0, 0
    for u in np.unique(users):
        m = users == u
        if 0 < y[m].sum() < m.sum():
            expected_num += pair_auc(y[m], p[m]) * m.sum()
            expected_den += m.sum()
    assert gauc(users, y, p) == pytest.approx(expected_num / expected_den)


def test_delong_variance_matches_its_structural_components():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 120)
    a = rng.normal(size=120) + 0.8 * y
    b = 0.5 * a + rng.normal(size=120) + 0.3 * y
    res = delong(y, a, b)
    # brute force: per-positive and per-negative placement values, then the DeLong variance
    def components(s):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(1), psi.mean(0)
    (a10, a01), (b10, b01) = components(a), components(b)
    m, n = len(a10), len(a01)
    var = (np.var(a10 - b10, ddof=1) / m) + (np.var(a01 - b01, ddof=1) / n)
    diff = pair_auc(y, a) - pair_auc(y, b)
    assert res.mean_diff == pytest.approx(diff, abs=1e-12)
    assert res.statistic == pytest.approx(diff / np.sqrt(var), rel=1e-9)
    assert delong(y, a, a).p_value == 1.0
    strong = delong(y, 3.0 * y + rng.normal(size=120) * 0.1, rng.normal(size=120))
    assert strong.p_value < 1e-6
