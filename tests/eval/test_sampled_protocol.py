"""The papers' sampled protocol beside full ranking, on the same weights: negatives drawn once and shared,
never a history item or the target; a target ranks at least as high among 100 negatives as among all items."""

import numpy as np
import torch

from recsys.eval.domains import sampled_negatives
from recsys.train.run import train_run


def test_negatives_are_drawn_once_and_exclude_history_and_targets(ml100k, tmp_path):
    from recsys.data.tensors import DatasetTensors

    t = DatasetTensors(ml100k)
    neg = sampled_negatives(t, "test", 100, cache=tmp_path)
    again = sampled_negatives(t, "test", 100, cache=tmp_path)
    assert torch.equal(neg, again) and neg.shape == (943, 100)
    users, targets = t.targets("test")
    history = t.history("test")
    for row in range(0, 943, 37):
        items = set(neg[row].tolist())
        assert len(items) == 100 and 0 not in items
        assert not items & set(history[users[row]].tolist()) and int(targets[row, 0]) not in items


def test_a_run_reports_both_protocols_on_the_same_weights(ml100k):
    r = train_run("BPR", ml100k, {"epochs": 2, "train_batch_size": 4096, "eval_negatives": 100, "progress": False},
                  seed=1)
    full, sampled = r.test["test"], r.test["test_sampled"]
    assert np.array_equal(full.users, sampled.users)
    # among 100 negatives a target can only rank higher: per user, hit@10 never drops
    assert (sampled.per_user["hit@10"] >= full.per_user["hit@10"]).all()
    assert sampled.summary["ndcg@10"] > 2 * full.summary["ndcg@10"]
    assert sampled.extra["negatives"] == 100
