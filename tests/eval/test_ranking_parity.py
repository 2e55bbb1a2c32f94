"""Our ranking metrics against RecBole's evaluator on the same score matrices."""

import numpy as np
import pytest
import torch

import recsys  # noqa: F401
from recsys.eval.ranking import positive_ranks, rank_metrics

KS = [1, 5, 10, 20]


def recbole_metrics(scores: torch.Tensor, positives: list[list[int]], ks):
    """RecBole's metric classes fed the way its Collector feeds them: top-k hits + positive counts."""
    from recbole.evaluator.metrics import MAP, MRR, NDCG, Hit, Precision, Recall

    cfg = {"topk": ks, "metric_decimal_place": 12}
    top = scores.topk(max(ks), dim=1).indices.numpy()
    pos_index = np.array([[item in set(p) for item in row] for row, p in zip(top, positives)])
    pos_len = np.array([len(p) for p in positives])
    out = {}
    for cls, name, needs_len in ((Recall, "recall", True), (NDCG, "ndcg", True), (MAP, "map", True),
                                 (MRR, "mrr", False), (Hit, "hit", False), (Precision, "precision", False)):
        m = cls(cfg)
        vec = m.metric_info(pos_index, pos_len) if needs_len else m.metric_info(pos_index)
        for k in ks:
            out[f"{name}@{k}"] = vec[:, k - 1]
    return out


def pad(positives):
    width = max(len(p) for p in positives)
    return torch.tensor([p + [-1] * (width - len(p)) for p in positives])


@pytest.mark.parametrize("max_pos", [1, 5, 30])
def test_equal_to_recbole_without_ties(max_pos):
    gen = torch.Generator().manual_seed(max_pos)
    users, items = 300, 200
    scores = torch.rand(users, items, generator=gen, dtype=torch.float64)  # continuous: no ties
    rng = np.random.default_rng(max_pos)
    positives = [sorted(rng.choice(items, size=rng.integers(1, max_pos + 1), replace=False).tolist())
                 for _ in range(users)]
    ours = rank_metrics(positive_ranks(scores, pad(positives)), KS)
    theirs = recbole_metrics(scores, positives, KS)
    for key, vec in theirs.items():
        np.testing.assert_allclose(ours[key], vec, atol=1e-6, err_msg=key)


def test_masked_items_are_never_ranked():
    scores = torch.tensor([[0.9, 0.8, 0.1, 0.5]], dtype=torch.float64)
    scores[0, 0] = -torch.inf  # a history item
    m = rank_metrics(positive_ranks(scores, torch.tensor([[1]])), [1])
    assert m["hit@1"][0] == 1.0
    # a masked positive (a repeat of a history item) is a miss at every K, as in RecBole
    miss = rank_metrics(positive_ranks(scores, torch.tensor([[0]])), [1, 4])
    assert miss["hit@4"][0] == 0.0 and miss["ndcg@4"][0] == 0.0


def test_ties_documented_difference_with_recbole():
    """A constant model: which tied items RecBole's top-k keeps is an accident of torch.topk, so
    the outcome depends on the positive's id; pessimistic gives 0, 'expected' the random-order value."""
    items = 100
    scores = torch.zeros(2, items, dtype=torch.float64)
    kept = set(scores[0].topk(10).indices.tolist())
    positives = [[min(kept)], [min(set(range(items)) - kept)]]
    theirs = recbole_metrics(scores, positives, [10])
    ours = rank_metrics(positive_ranks(scores, pad(positives), "pessimistic"), [10])
    expected = rank_metrics(positive_ranks(scores, pad(positives), "expected"), [10])
    optimistic = rank_metrics(positive_ranks(scores, pad(positives), "optimistic"), [10])
    assert theirs["hit@10"].tolist() == [1.0, 0.0]  # same scores, different verdicts
    assert ours["hit@10"].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(expected["hit@10"], [0.1, 0.1])  # 10 of 100 positions
    np.testing.assert_allclose(expected["ndcg@10"], sum(1 / np.log2(r + 2) for r in range(10)) / 100)
    assert optimistic["hit@10"].tolist() == [1.0, 1.0]


def test_random_ties_are_seeded():
    scores = torch.zeros(50, 40, dtype=torch.float64)
    pos = torch.arange(50).remainder(40).unsqueeze(1)
    a = rank_metrics(positive_ranks(scores, pos, "random", seed=1), [10])["hit@10"]
    b = rank_metrics(positive_ranks(scores, pos, "random", seed=1), [10])["hit@10"]
    c = rank_metrics(positive_ranks(scores, pos, "random", seed=2), [10])["hit@10"]
    assert (a == b).all() and not (a == c).all()
    assert 0.05 < a.mean() < 0.6


def test_hand_computed_case():
    # one user, positives at ranks 0 and 2 among 5 items
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]], dtype=torch.float64)
    m = rank_metrics(positive_ranks(scores, torch.tensor([[0, 2]])), [3])
    idcg = 1 + 1 / np.log2(3)
    assert m["ndcg@3"][0] == pytest.approx((1 + 1 / np.log2(4)) / idcg)
    assert m["recall@3"][0] == 1.0 and m["precision@3"][0] == pytest.approx(2 / 3)
    assert m["mrr@3"][0] == 1.0
    assert m["map@3"][0] == pytest.approx((1 / 1 + 2 / 3) / 2)


@pytest.mark.parametrize("policy", ["pessimistic", "optimistic", "expected"])
def test_top_k_shortcut_equals_full_count(policy):
    """Ranks from the top-K values are exact wherever a metric @k <= K can see them, ties included."""
    gen = torch.Generator().manual_seed(7)
    scores = torch.randint(0, 30, (400, 120), generator=gen).double()  # many ties
    scores[:, :5] = -torch.inf  # masked history
    positives = torch.randint(5, 120, (400, 3), generator=gen)
    positives[::4, 2] = -1
    positives[1::7, 0] = 2  # a masked positive
    k = 10
    full = rank_metrics(positive_ranks(scores, positives, policy), [1, 5, k])
    fast = rank_metrics(positive_ranks(scores, positives, policy, top_values=scores.topk(k).values), [1, 5, k])
    for key in full:
        np.testing.assert_allclose(fast[key], full[key], atol=1e-12, err_msg=key)
