import numpy as np
import pytest
import torch

from recsys.data.tensors import DatasetTensors
from recsys.eval.evaluator import evaluate


@pytest.fixture(scope="module")
def tensors(ml100k):
    return DatasetTensors(ml100k)


def oracle(tensors, phase, history_bonus=0.0):
    users, targets = tensors.targets(phase)
    row = {int(u): int(t[0]) for u, t in zip(users, targets)}
    hist = tensors.history(phase)

    def score(u, _history):
        s = torch.zeros(len(u), tensors.n_items + 1)
        for i, user in enumerate(u):
            s[i, hist[user]] = history_bonus  # history items scored highest: must be masked
            s[i, row[int(user)]] = 1.0
        return s

    return score


def test_oracle_is_perfect_and_history_is_masked(tensors):
    r = evaluate(oracle(tensors, "test", history_bonus=5.0), tensors, "test", ks=(1, 10))
    assert r["ndcg@1"] == 1.0 and r["hit@10"] == 1.0
    assert len(r.per_user["ndcg@10"]) == 943 and r.repeated_targets == 0


def test_constant_model_scores_zero_under_pessimistic_ties(tensors):
    const = lambda u, h: torch.zeros(len(u), tensors.n_items + 1)  # noqa: E731
    assert evaluate(const, tensors, "test", ks=(10,))["ndcg@10"] == 0.0
    assert evaluate(const, tensors, "test", ks=(10,), tie_policy="optimistic")["ndcg@10"] == 1.0
    expected = evaluate(const, tensors, "test", ks=(10,), tie_policy="expected")["hit@10"]
    assert 0.005 < expected < 0.02  # about 10 / (candidates per user)


def test_candidate_mask_makes_outside_targets_misses(tensors):
    users, targets = tensors.targets("test")
    candidates = torch.ones(tensors.n_items + 1, dtype=torch.bool)
    candidates[targets[:100, 0]] = False
    r = evaluate(oracle(tensors, "test"), tensors, "test", ks=(10,), candidates=candidates)
    masked = np.isin(targets[:, 0].numpy(), targets[:100, 0].numpy())
    assert (r.per_user["hit@10"][masked] == 0).all() and (r.per_user["hit@10"][~masked] == 1).all()


def test_scores_that_alias_model_state_are_not_corrupted(tensors):
    state = torch.arange(tensors.n_items + 1, dtype=torch.float32)
    before = state.clone()
    evaluate(lambda u, h: state.unsqueeze(0).expand(len(u), -1), tensors, "test", ks=(10,), batch_size=1)
    assert torch.equal(state, before)


def test_nan_scores_are_an_error(tensors):
    nan = lambda u, h: torch.full((len(u), tensors.n_items + 1), float("nan"))  # noqa: E731
    with pytest.raises(FloatingPointError, match="NaN"):
        evaluate(nan, tensors, "test", ks=(10,))
