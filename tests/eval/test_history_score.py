"""``history_score`` reproduces official code that "masks" history items with a score instead of removing them."""

import numpy as np
import torch

from recsys.data.tensors import DatasetTensors
from recsys.eval.evaluator import evaluate


def test_history_items_scored_zero_stay_in_the_ranking(ml100k):
    t = DatasetTensors(ml100k)
    users, targets = t.targets("test")
    history = t.history("test")
    lookup = dict(zip(users.tolist(), targets[:, 0].tolist()))

    def score(u, h):  # target at 0.5, every other item negative: history at 0 outranks the target
        s = torch.full((len(u), t.n_items + 1), -1.0)
        s[torch.arange(len(u)), torch.tensor([lookup[int(x)] for x in u])] = 0.5
        return s

    removed = evaluate(score, t, "test", (10,), groups=None)
    zero = evaluate(score, t, "test", (10,), groups=None, history_score=0.0)
    high = evaluate(score, t, "test", (10,), groups=None, history_score=1.0)
    assert removed["hit@10"] == 1.0 and zero["hit@10"] == 1.0  # 0 < 0.5: still first
    assert high["hit@10"] < 0.05  # every user has >= 19 history items scored above the target
    assert np.isclose(high.per_user["hit@10"][history.lengths[users] < 10].sum(), 0)
