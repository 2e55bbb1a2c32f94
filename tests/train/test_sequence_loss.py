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


def test_sampled_softmax_is_within_five_percent_of_full_cross_entropy(ml100k):
    """In-batch + 256 uniform negatives with the log-Q correction against the full catalogue softmax,
    equal epochs, 3 seeds: the sampled loss loses at most 5% of NDCG@10 (measured: it is not lower)."""
    settings = {**TINY, "epochs": 3, "train_batch_size": 512, "length_buckets": True,
                "hidden_dropout_prob": 0.2, "attn_dropout_prob": 0.2}
    full, sampled = [], []
    for seed in (1, 2, 3):
        full.append(train_run("SASRec", ml100k, settings, seed=seed).test["test"]["ndcg@10"])
        run = train_run("SASRec", ml100k, {**settings, "sequence_loss": "sampled"}, seed=seed)
        assert run.config["sequence_loss"] == "sampled"
        sampled.append(run.test["test"]["ndcg@10"])
    assert sum(sampled) >= 0.95 * sum(full), (full, sampled)


def test_gbce_beta_follows_the_sampling_rate():
    from recsys.nn.sampled_softmax import gbce

    gen = torch.Generator().manual_seed(0)
    h, w = torch.randn(50, 8, generator=gen), torch.randn(101, 8, generator=gen)
    y = torch.randint(1, 101, (50,), generator=gen)
    # t = 0 gives beta = alpha * (1 / alpha) = 1: plain BCE with k negatives
    loss = gbce(h, w, y, 10, torch.Generator().manual_seed(1), t=0.0)
    neg = torch.randint(1, 101, (50, 10), generator=torch.Generator().manual_seed(1))
    pos_s, neg_s = (h * w[y]).sum(-1), torch.einsum("nd,nkd->nk", h, w[neg])
    expected = (-F.logsigmoid(pos_s) - F.logsigmoid(-neg_s).sum(-1)).mean()
    assert torch.isclose(loss, expected, atol=1e-5)
    # t = 1 gives beta = alpha: the positive's term shrinks by the sampling rate 10 / 99
    calibrated = gbce(h, w, y, 10, torch.Generator().manual_seed(1), t=1.0)
    expected = (-(10 / 99) * F.logsigmoid(pos_s) - F.logsigmoid(-neg_s).sum(-1)).mean()
    assert torch.isclose(calibrated, expected, atol=1e-5)


def test_log_q_correction_removes_the_popularity_bias_of_in_batch_negatives():
    """With a popular item drawn into every batch, the uncorrected sampled softmax pushes it down more
    than the full softmax does; the log-Q corrected one follows the full softmax's gradient."""
    from recsys.nn.sampled_softmax import item_probabilities, sampled_softmax

    gen = torch.Generator().manual_seed(0)
    n_items, d = 400, 8
    w = torch.randn(n_items + 1, d, generator=gen, requires_grad=True)
    h = torch.randn(256, d, generator=gen)
    popularity = torch.ones(n_items + 1)
    popularity[1] = 2000.0  # item 1 is a fifth of all training targets ...
    y = torch.where(torch.rand(256, generator=gen) < 0.2, 1, torch.randint(2, n_items + 1, (256,), generator=gen))

    def grad_of_item_1(loss_fn):
        w.grad = None
        loss_fn().backward()
        return w.grad[1].norm()

    full = grad_of_item_1(lambda: F.cross_entropy(h @ w.T, y))
    corrected = grad_of_item_1(lambda: sampled_softmax(h, w, y, 64, torch.Generator().manual_seed(2),
                                                       probs=item_probabilities(n_items, popularity)))
    uncorrected = grad_of_item_1(lambda: sampled_softmax(h, w, y, 64, torch.Generator().manual_seed(2),
                                                         probs=None))
    assert abs(corrected - full) < abs(uncorrected - full)
