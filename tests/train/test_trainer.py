import json

import numpy as np
import pytest
import torch

from recsys.errors import RecsysError
from recsys.models.registry import UnknownModel, get_model_spec
from recsys.train import run as run_module
from recsys.train.checkpoint import load_checkpoint
from recsys.train.config import ConfigError
from recsys.train.run import train_run

SMALL = {"hidden_size": 32, "inner_size": 64, "n_layers": 1, "n_heads": 1, "MAX_ITEM_LIST_LENGTH": 20,
         "train_batch_size": 512, "progress": False}


def test_unknown_model_lists_close_matches():
    with pytest.raises(UnknownModel, match="did you mean: SASRec"):
        get_model_spec("SASRek")


def test_unknown_config_key_is_an_error(ml100k):
    with pytest.raises(ConfigError, match="unknown config key 'hiden_size'.*hidden_size"):
        train_run("SASRec", ml100k, {"hiden_size": 32})


def test_sasrec_learns_and_is_deterministic(ml100k):
    a = train_run("SASRec", ml100k, {**SMALL, "epochs": 3}, seed=3)
    b = train_run("SASRec", ml100k, {**SMALL, "epochs": 3}, seed=3)
    assert a.status == "ok" and a.objective == "full_sequence"
    assert a.fit["losses"][-1] < a.fit["losses"][0]  # the loss goes down
    assert a.metric("ndcg@10") == b.metric("ndcg@10")  # same seed, same result
    per_user = a.test["test"].per_user["ndcg@10"]
    assert per_user.shape == (943,) and np.isclose(per_user.mean(), a.metric("ndcg@10"))


def test_prefix_objective_runs_recbole_loss(ml100k):
    r = train_run("SASRec", ml100k, {**SMALL, "epochs": 1, "objective": "prefix"}, seed=1)
    assert r.status == "ok" and r.objective == "prefix"
    assert r.fit["train_targets"] == 98_114 - 943  # one sample per prefix, as RecBole augments
    with pytest.raises(ValueError, match="cannot train with objective 'full_sequence'"):
        train_run("BPR", ml100k, {"objective": "full_sequence"})


def test_nan_loss_stops_the_run_and_is_recorded_as_failed(ml100k, monkeypatch):
    real = run_module.build_objective

    def poisoned(*args, **kwargs):
        obj = real(*args, **kwargs)
        epoch = obj.epoch

        def nan_epoch(gen):
            for i, (loss, n) in enumerate(epoch(gen)):
                yield (loss * float("nan") if i == 2 else loss), n

        obj.epoch = nan_epoch
        return obj

    monkeypatch.setattr(run_module, "build_objective", poisoned)
    r = train_run("BPR", ml100k, {"epochs": 2, "train_batch_size": 4096, "progress": False})
    assert r.status == "failed"
    assert "loss is nan at epoch 1, batch 3" in r.error and "learning rate" in r.error


def test_early_stopping_and_best_weights(ml100k):
    r = train_run("BPR", ml100k, {"epochs": 40, "stopping_step": 2, "learning_rate": 0.05,
                                  "train_batch_size": 4096, "progress": False}, seed=1)
    hist = r.fit["valid_history"]
    assert r.fit["stopped_early"] and r.fit["epochs_run"] < 40
    assert r.fit["best_epoch"] == int(np.argmax(hist)) + 1
    assert r.valid["ndcg@10"] == pytest.approx(max(hist))


def test_multi_phase_schedule_freezes_what_it_should(ml100k):
    phases = [{"epochs": 1, "learning_rate": 1e-3, "trainable": "item_embedding", "name": "warm-up"},
              {"epochs": 1, "learning_rate": 1e-3, "name": "all"}]
    r = train_run("SASRec", ml100k, {**SMALL, "phases": phases}, seed=1)
    assert r.status == "ok" and r.fit["epochs_run"] == 2
    with pytest.raises(ConfigError, match="no parameter matches"):
        train_run("SASRec", ml100k, {**SMALL, "phases": [{"epochs": 1, "learning_rate": 1e-3, "trainable": "nope"}]})


def test_checkpoint_is_a_plain_state_dict(ml100k, tmp_path):
    r = train_run("BPR", ml100k, {"epochs": 1, "train_batch_size": 4096, "progress": False}, seed=1,
                  checkpoint=tmp_path / "bpr")
    state = torch.load(tmp_path / "bpr.pt", weights_only=True)
    assert set(state) == {"user_embedding.weight", "item_embedding.weight"}
    meta = json.loads((tmp_path / "bpr.json").read_text())
    assert meta["fingerprint"] == ml100k.fingerprint and r.status == "ok"
    from recsys.data.tensors import DatasetTensors
    from recsys.recbole.dataset_view import TrainDatasetView

    cls, config = run_module.recbole_model_config(get_model_spec("BPR"), ml100k, {}, 1)
    fresh = cls(config, TrainDatasetView(DatasetTensors(ml100k)))
    assert load_checkpoint(fresh, tmp_path / "bpr")["model"] == "BPR"
    assert torch.equal(fresh.item_embedding.weight, state["item_embedding.weight"])


def test_most_pop_is_exact_and_seed_independent(ml100k):
    a, b = train_run("MostPop", ml100k, {}, seed=1), train_run("MostPop", ml100k, {}, seed=2)
    assert a.metric("ndcg@10") == b.metric("ndcg@10")
    assert isinstance(ConfigError("x"), RecsysError)
