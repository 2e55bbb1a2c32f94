"""Statistics for comparing runs: paired tests, bootstrap intervals, Holm correction, effect sizes.

Per-user tests pair the two runs' metric vectors user by user (same split, same users);
across-seed tests pair runs by seed. All functions take plain arrays and return plain
numbers, so the report layer can cite exactly what was tested.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as st


@dataclass(frozen=True)
class PairedTest:
    test: str
    statistic: float
    p_value: float
    mean_diff: float  # mean of (a - b)
    effect_size: float  # Cohen's d_z for paired t; matched-pairs rank-biserial r for Wilcoxon
    n: int


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired tests need two 1-d arrays of equal length, got {a.shape} and {b.shape}")
    return a, b


def paired_t(a, b) -> PairedTest:
    a, b = _paired(a, b)
    d = a - b
    sd = d.std(ddof=1) if len(d) > 1 else 0.0
    if sd == 0:
        p = 1.0 if d.mean() == 0 else 0.0
        return PairedTest("paired-t", float("inf") if p == 0 else 0.0, p, float(d.mean()), 0.0, len(d))
    res = st.ttest_rel(a, b)
    return PairedTest("paired-t", float(res.statistic), float(res.pvalue), float(d.mean()), float(d.mean() / sd),
                      len(d))


def wilcoxon(a, b) -> PairedTest:
    """Wilcoxon signed-rank test (two-sided; zero differences dropped, as ``zero_method='wilcox'``)."""
    a, b = _paired(a, b)
    d = a - b
    nz = d[d != 0]
    if len(nz) == 0:
        return PairedTest("wilcoxon", 0.0, 1.0, 0.0, 0.0, len(d))
    res = st.wilcoxon(nz)
    ranks = st.rankdata(np.abs(nz))
    r = (ranks[nz > 0].sum() - ranks[nz < 0].sum()) / ranks.sum()  # matched-pairs rank-biserial
    return PairedTest("wilcoxon", float(res.statistic), float(res.pvalue), float(d.mean()), float(r), len(d))


def holm(p_values) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (monotone, capped at 1), in the input order."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.maximum.accumulate(adjusted)
    out = np.empty(m)
    out[order] = adjusted
    return out


def bootstrap_ci(x, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def auc_difference(labels, scores_a, scores_b, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """AUC(a) - AUC(b) on the same samples, and a two-sided paired-bootstrap p-value."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels)
    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    diff = roc_auc_score(y, a) - roc_auc_score(y, b)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():
            continue
        boots.append(roc_auc_score(y[idx], a[idx]) - roc_auc_score(y[idx], b[idx]))
    boots = np.asarray(boots)
    p = 2 * min((boots <= 0).mean(), (boots >= 0).mean()) if len(boots) else 1.0
    return float(diff), float(min(1.0, p))


def delong(labels, scores_a, scores_b) -> PairedTest:
    """DeLong's test for two correlated AUCs on the same samples (DeLong et al. 1988; Sun & Xu's midrank form).

    ``mean_diff`` and ``effect_size`` are AUC(a) - AUC(b); ``statistic`` is the z value.
    """
    y = np.asarray(labels) > 0.5
    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        return PairedTest("delong", 0.0, 1.0, 0.0, 0.0, len(y))
    v10, v01, aucs = [], [], []
    for s in (a, b):
        pos, neg = s[y], s[~y]
        tz = st.rankdata(np.concatenate([pos, neg]))  # mid-ranks for ties
        tx, ty = st.rankdata(pos), st.rankdata(neg)
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((tz[:m] - tx) / n)
        v01.append(1.0 - (tz[m:] - ty) / m)
    cov = np.cov(np.vstack(v10)) / m + np.cov(np.vstack(v01)) / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = float(aucs[0] - aucs[1])
    if var <= 0:
        return PairedTest("delong", 0.0, 1.0 if diff == 0 else 0.0, diff, diff, len(y))
    z = diff / np.sqrt(var)
    return PairedTest("delong", float(z), float(2 * st.norm.sf(abs(z))), diff, diff, len(y))
