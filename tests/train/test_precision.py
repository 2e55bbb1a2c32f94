"""Mixed precision: the forward pass of training steps under bf16 autocast with float32 weights and a
float32 loss; evaluation always in float32 (bf16 scores tie and move ranks); the run records it."""

from __future__ import annotations

import pytest
import torch

from recsys.data.tensors import DatasetTensors
from recsys.train.objectives import FullSequence
from recsys.train.precision import check_precision, native_bf16, with_precision

TINY = {"hidden_size": 16, "inner_size": 32, "n_layers": 1, "n_heads": 1, "MAX_ITEM_LIST_LENGTH": 20,
        "progress": False}


def _sasrec(ds):
    from recsys.models.registry import get_model_spec
    from recsys.recbole.dataset_view import TrainDatasetView
    from recsys.train.config import recbole_model_config

    tensors = DatasetTensors(ds)
    torch.manual_seed(0)
    cls, config = recbole_model_config(get_model_spec("SASRec"), ds, TINY, 1)
    return cls(config, TrainDatasetView(tensors)), tensors


def _first_batch_loss_and_grads(model, tensors, precision):
    obj = FullSequence(model, tensors, 32, 20)
    obj.run = with_precision(lambda compute: compute(), precision)
    model.zero_grad(set_to_none=True)
    loss, _ = next(obj.epoch(torch.Generator().manual_seed(3)))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_bf16_step_keeps_float32_weights_loss_and_gradients(ml100k):
    model, tensors = _sasrec(ml100k)
    model.eval()  # no dropout: both passes see the same network
    exact, g32 = _first_batch_loss_and_grads(model, tensors, "fp32")
    mixed, g16 = _first_batch_loss_and_grads(model, tensors, "bf16")
    assert mixed.dtype == torch.float32 and all(p.dtype == torch.float32 for p in model.parameters())
    assert all(g.dtype == torch.float32 for g in g16.values()) and g16.keys() == g32.keys()
    assert mixed != exact  # the products really ran in bfloat16 ...
    assert abs(float(mixed) - float(exact)) < 0.01 * float(exact)  # ... and stay close
    emb = "item_embedding.weight"
    cos = torch.nn.functional.cosine_similarity(g16[emb].flatten(), g32[emb].flatten(), dim=0)
    assert cos > 0.98


def test_bf16_scores_tie_and_change_rankings_so_evaluation_runs_in_float32():
    gen = torch.Generator().manual_seed(0)
    users, items = torch.randn(512, 64, generator=gen), torch.randn(1682, 64, generator=gen)
    exact = users @ items.T
    rounded = (users.bfloat16() @ items.bfloat16().T).float()
    top32, top16 = exact.topk(10).indices, rounded.topk(10).indices
    changed = (top32 != top16).any(1).float().mean()
    ties = (rounded[:, None, :] == rounded.topk(10).values[:, :, None]).sum(-1).gt(1).any(1).float().mean()
    assert changed > 0.2 and ties > 0.2  # a fifth of the users' top 10 would move through rounding alone


def test_validation_scores_outside_autocast(ml100k):
    from recsys.eval.evaluator import mask_history  # noqa: F401  (the evaluator the trainer calls)
    from recsys.train.objectives import build_objective
    from recsys.train.trainer import Trainer, TrainerSettings

    model, tensors = _sasrec(ml100k)
    seen = []

    def score(users, history):
        seen.append(torch.is_autocast_enabled("cpu"))
        return torch.randn(len(users), tensors.n_items + 1)

    obj = build_objective("full_sequence", model, tensors, 4096, 20)
    with pytest.warns(RuntimeWarning) if not native_bf16() else _nothing():
        trainer = Trainer(model, obj, score, tensors, TrainerSettings(epochs=1, precision="bf16"), seed=1)
    trainer.validate()
    assert seen and not any(seen)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_precision_is_checked_recorded_and_labelled(ml100k):
    from recsys.bench.records import run_label
    from recsys.errors import ConfigError
    from recsys.train.run import train_run

    with pytest.raises(ValueError, match="precision must be one of"):
        check_precision("fp16")
    with pytest.raises(ConfigError, match="precision = 'half'"):
        train_run("SASRec", ml100k, {**TINY, "epochs": 1, "precision": "half"}, seed=1)
    assert run_label("SASRec", [], "fp32") == "SASRec"


@pytest.mark.filterwarnings("ignore:precision = bf16")
def test_a_bf16_run_says_so_in_its_record(ml100k):
    from recsys.bench.records import record_for
    from recsys.train.run import train_run

    result = train_run("MostPop", ml100k, {"precision": "bf16", "progress": False}, seed=1)
    record, _ = record_for(result, ml100k, "rid", "hash")
    assert record["label"] == "MostPop [bf16]" and record["config"]["precision"] == "bf16"
    assert record["provenance"]["precision"]["precision"] == "bf16"
    assert record["provenance"]["precision"]["native_bf16"] == native_bf16()
