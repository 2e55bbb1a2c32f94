"""Cross-domain evaluation on a real pair: target-domain candidates, per-domain figures, fixed negatives."""

import pytest
import torch

from recsys.data import prepare
from recsys.data.tensors import DatasetTensors
from recsys.eval.domains import (
    evaluate_by_domain,
    item_domains,
    sampled_negatives,
    target_domains,
)
from recsys.eval.evaluator import evaluate


@pytest.fixture(scope="module")
def food_kitchen(shared_data):
    return DatasetTensors(prepare("cdr-food-kitchen", shared_data, progress=False))


def _random_scores(n_items, seed=0):
    table = torch.rand(n_items + 1, generator=torch.Generator().manual_seed(seed))

    def score(users, history):
        rows = torch.rand((len(users), n_items + 1), generator=torch.Generator().manual_seed(int(users[0])))
        return rows + table

    return score


def test_cases_are_ranked_among_their_target_domain_only(food_kitchen):
    t = food_kitchen
    names, codes = item_domains(t)
    assert names == ["food", "kitchen"]
    # a model that puts every other-domain item first must lose nothing under domain candidates
    base = _random_scores(t.n_items)
    domain = target_domains(t, "test", codes)
    users_all, _ = t.targets("test")
    lookup = dict(zip(users_all.tolist(), domain.tolist()))
    bias = torch.from_numpy(codes)

    def cheating(users, history):
        s = base(users, history)
        d = torch.tensor([lookup[int(u)] for u in users])
        return s + 100.0 * (bias[None, :] != d[:, None]).float()

    plain, biased = evaluate_by_domain(base, t), evaluate_by_domain(cheating, t)
    assert plain.summary["ndcg@10"] == pytest.approx(biased.summary["ndcg@10"])
    assert plain.summary["ndcg@10"] > 0  # random scores still find something among one domain's items
    # per-domain means combine into the overall mean
    n = {d: plain.summary[f"users|domain:{d}"] for d in names}
    mixed = sum(plain.summary[f"ndcg@10|domain:{d}"] * n[d] for d in names) / sum(n.values())
    assert mixed == pytest.approx(plain.summary["ndcg@10"])
    # and it differs from ranking over the whole catalogue (the cheating model loses everything there)
    assert evaluate(cheating, t, "test", groups=None).summary["ndcg@10"] < 0.2 * biased.summary["ndcg@10"]


def test_sampled_negatives_are_fixed_in_domain_and_never_known_items(food_kitchen, tmp_path):
    t = food_kitchen
    _, codes = item_domains(t)
    neg = sampled_negatives(t, "test", n=100, seed=3, cache=tmp_path)
    again = sampled_negatives(t, "test", n=100, seed=3, cache=tmp_path)
    assert torch.equal(neg, again) and len(list(tmp_path.glob("*.npy"))) == 1
    users, targets = t.targets("test")
    domain = target_domains(t, "test", codes)
    history = t.history("test")
    assert (codes[neg.numpy()] == domain[:, None]).all()
    for row in range(0, len(users), 97):
        known = set(history[users[row]].tolist()) | {int(targets[row, 0])}
        assert not known & set(neg[row].tolist()) and len(set(neg[row].tolist())) == 100
    score = _random_scores(t.n_items)
    full = evaluate_by_domain(score, t)
    sampled = evaluate_by_domain(score, t, negatives=neg)
    assert sampled.extra["protocol"] == "sampled"
    # ranking among 101 candidates is never harder than among a whole domain
    assert (sampled.per_user["hit@10"] >= full.per_user["hit@10"]).all()
    assert sampled.summary["hit@10"] > 5 * full.summary["hit@10"]
    # random scores among 101 candidates: hit@10 close to 10/101
    assert sampled.summary["hit@10"] == pytest.approx(10 / 101, abs=0.01)


def test_datasets_without_domains_are_refused(ml100k):
    with pytest.raises(ValueError, match="no item domains"):
        item_domains(DatasetTensors(ml100k))
