"""Full-sort scoring of causal sequential models in length groups gives the scores of the padded
batch (trailing padding of a left-aligned window never reaches the scored position)."""

from __future__ import annotations

import numpy as np
import torch

from recsys.data.tensors import DatasetTensors
from recsys.recbole.interaction import score_function

TINY = {"SASRec": {"hidden_size": 16, "inner_size": 32, "n_layers": 2, "n_heads": 2, "MAX_ITEM_LIST_LENGTH": 50},
        "GRU4Rec": {"hidden_size": 16, "embedding_size": 16, "MAX_ITEM_LIST_LENGTH": 50}}


def test_length_grouped_scores_equal_padded_scores(ml100k):
    from recsys.models.registry import get_model_spec
    from recsys.recbole.dataset_view import TrainDatasetView
    from recsys.train.config import recbole_model_config

    tensors = DatasetTensors(ml100k)
    for name in ("SASRec", "GRU4Rec"):
        torch.manual_seed(0)
        cls, config = recbole_model_config(get_model_spec(name), ml100k, TINY[name], 1)
        model = cls(config, TrainDatasetView(tensors)).eval()
        users, _ = tensors.targets("test")
        history = tensors.history("test")
        lengths = history.lengths[users]
        batch = users[np.argsort(lengths)[::3][:300]]  # short and long histories in one batch
        assert history.lengths[batch].min() < 30 and history.lengths[batch].max() > 50
        with torch.no_grad():
            padded = score_function(model, 50)(batch, history)
            grouped = score_function(model, 50, causal=True)(batch, history)
        torch.testing.assert_close(grouped, padded, atol=1e-5, rtol=1e-5)
        assert torch.equal(grouped.topk(10).indices, padded.topk(10).indices)
