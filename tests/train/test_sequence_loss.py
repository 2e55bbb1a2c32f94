"""The full-sequence objective's optional BCE loss (the original SASRec loss) and length buckets."""

import pytest
import torch
import torch.nn.functional as F

from recsys.data.tensors import DatasetTensors
from recsys.train.objectives import FullSequence
from recsys.train.run import train_run

TINY = {"hidden_size": 32, "inner_size": 64, "n_layers": 1, "n_heads": 1, "MAX_ITEM_LIST_LENGTH": 20,
        "progress": False}


def test_bce_is_binary_cross_entropy_with_one_negative_per_position(ml100k):
    from recsys.models.registry import get_model_spec
    from recsys.recbole.dataset_view import TrainDatasetView
    from recsys.train.config import recbole_model_config

    tensors = DatasetTensors(ml100k)
    cls, config = recbole_model_config(get_model_spec("SASRec"), ml100k, TINY, 1)
    model = cls(config, TrainDatasetView(tensors)).eval()
    obj = FullSequence(model, tensors, 64, 20, sequence_loss="bce")
    loss, n = next(obj.epoch(torch.Generator().manual_seed(5)))
    # recompute by hand with the same generator draws
    gen = torch.Generator().manual_seed(5)
    idx = obj._batches(gen)[0]
    x, y = obj.inputs[idx], obj.targets[idx]
    from recsys.train.objectives import all_positions

    with torch.no_grad(), all_positions(model):
        h = model.forward(x, (x > 0).sum(1))
    mask = y > 0
    hv, yv = h[mask], y[mask]
    neg = torch.randint(1, tensors.n_items + 1, yv.shape, generator=gen)
    w = model.item_embedding.weight
    expected = (-F.logsigmoid((hv * w[yv]).sum(-1)) - F.logsigmoid(-(hv * w[neg]).sum(-1))).mean()
    assert n == int(mask.sum()) and torch.isclose(loss, expected, atol=1e-5)


def test_bce_trained_sasrec_learns(ml100k):
    run = train_run("SASRec", ml100k, {**TINY, "epochs": 3, "sequence_loss": "bce", "length_buckets": True},
                    seed=1)
    pop = train_run("MostPop", ml100k, {"progress": False}, seed=1)
    assert run.fit["losses"][-1] < run.fit["losses"][0]
    assert run.test["test"]["ndcg@10"] > 1.1 * pop.test["test"]["ndcg@10"]


def test_sequence_loss_is_validated(ml100k):
    with pytest.raises(ValueError, match="sequence_loss must be one of"):
        train_run("SASRec", ml100k, {**TINY, "epochs": 1, "sequence_loss": "hinge"}, seed=1)
    with pytest.raises(ValueError, match="full_sequence objective only"):
        train_run("BPR", ml100k, {"epochs": 1, "sequence_loss": "bce", "progress": False}, seed=1)
