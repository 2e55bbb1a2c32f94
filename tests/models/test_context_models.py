"""The 12 Scenario-Wise Rec models and GPRec on MovieLens-100K as multi-scenario CTR data.

Each model's prediction for a sample is the same alone, in a batch, or in a reordered batch (in
evaluation mode, after training steps moved its normalisation statistics); every parameter gets
a gradient; each learns (validation AUC rises) and beats logistic regression trained the same
way; each runs inside RecBole's own Trainer.
"""

import math

import numpy as np
import pytest
import torch
from recbole.data.interaction import Interaction

from recsys.data import prepare
from recsys.data.context_tensors import ContextTensors
from recsys.models.context import SCENARIO_MODELS
from recsys.models.registry import get_model_spec
from recsys.recbole.dataset_view import ContextDatasetView
from recsys.train.config import recbole_model_config
from recsys.train.run import train_run

GPREC = [("GPRec", {"backbone": b}) for b in ("mlp", "widedeep", "ipnn", "deepfm", "dcn")]
ALL = [(m, {}) for m in SCENARIO_MODELS] + GPREC + [("GPRec", {"backbone": "deepfm", "use_gprec": False})]
IDS = [f"{m}-{o.get('backbone', '')}{'-plain' if o.get('use_gprec') is False else ''}" for m, o in ALL]
QUICK = {"epochs": 4, "stopping_step": 4, "progress": False, "weight_decay": 1e-5}


@pytest.fixture(scope="module")
def data():
    ds = prepare("ms-ml-100k", progress=False)
    return ds, ContextTensors(ds)


def build(data, name, overrides):
    ds, t = data
    cls, config = recbole_model_config(get_model_spec(name), ds, overrides, seed=1)
    torch.manual_seed(0)
    return cls(config, ContextDatasetView(t, name))


@pytest.mark.parametrize("name,overrides", ALL, ids=IDS)
def test_prediction_does_not_depend_on_the_batch(data, name, overrides):
    _, t = data
    model = build(data, name, overrides)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    model.train()
    for _ in range(3):  # move BatchNorm / partitioned-norm statistics and AdaptDHM's centres away from init
        loss = model.calculate_loss(Interaction(t.batch(rng.choice(t.splits["train"], 1024, replace=False))))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    rows = t.splits["test"][:48]
    with torch.no_grad():
        batch = model.predict(Interaction(t.batch(rows)))
        alone = torch.cat([model.predict(Interaction(t.batch(rows[i:i + 1]))) for i in range(len(rows))])
        mixed = model.predict(Interaction(t.batch(np.concatenate([rows[::-1], t.splits["valid"][:100]]))))[:48].flip(0)
    assert batch.shape == (48,) and ((batch > 0) & (batch < 1)).all()
    assert torch.allclose(batch, alone, atol=1e-5)
    assert torch.allclose(batch, mixed, atol=1e-5)


@pytest.mark.parametrize("name,overrides", ALL, ids=IDS)
def test_every_parameter_gets_a_gradient(data, name, overrides):
    _, t = data
    model = build(data, name, overrides)
    model.train()
    model.calculate_loss(Interaction(t.batch(t.splits["train"][:4096]))).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    if name == "AdaptDHM":  # a cluster with no sample in this batch has nothing to learn from it
        missing = [n for n in missing if ".w_s" not in n and ".b_s" not in n]
    assert not missing, missing


@pytest.fixture(scope="module")
def logistic(data):
    ds, t = data
    return train_run("LR", ds, QUICK, seed=1, tensors=t)


@pytest.mark.parametrize("name,overrides", [(m, {}) for m in SCENARIO_MODELS] + [GPREC[3]],
                         ids=[*SCENARIO_MODELS, "GPRec-deepfm"])
def test_learns_and_beats_logistic_regression(data, logistic, name, overrides):
    ds, t = data
    result = train_run(name, ds, {**QUICK, **overrides}, seed=1, tensors=t)
    assert result.status == "ok", result.error
    history = result.fit["valid_history"]
    assert max(history) > history[0] + 0.01, history  # validation AUC rises
    assert result.fit["losses"][-1] < result.fit["losses"][0]
    mine, lr = result.test["test"].summary, logistic.test["test"].summary
    assert mine["auc"] > lr["auc"], (mine["auc"], lr["auc"])
    assert all(k in mine for k in ("auc|scenario:under-25", "logloss|scenario:35-plus", "auc|gender:F", "gauc"))
    per_sample = result.test["test"].per_user
    assert len(per_sample["prediction"]) == 10_000 and set(np.unique(per_sample["label"])) == {0.0, 1.0}


def test_gprec_terms_exist_only_when_switched_on(data):
    plain = build(data, "GPRec", {"backbone": "mlp", "use_gprec": False})
    full = build(data, "GPRec", {"backbone": "mlp"})
    extra = {n for n, _ in full.named_parameters()} - {n for n, _ in plain.named_parameters()}
    assert {"group_pos", "group_neg", "assign.weight", "individual.weight", "item_proj.weight"} <= extra
    assert "user_id" not in [full.token_field_names[i] for i in full.item_idx]  # item side has no user field


@pytest.mark.parametrize("name", [*SCENARIO_MODELS, "GPRec"])
def test_runs_inside_recboles_own_trainer(name):
    from recsys.recbole.bridge import run_recbole

    ds = prepare("ms-ml-100k", progress=False)
    out = run_recbole(name, ds, {"epochs": 3, "embedding_size": 16, "learning_rate": 0.005}, saved=False)
    assert set(out["test"]) == {"auc", "logloss"}
    assert 0.65 < out["test"]["auc"] < 1.0 and math.isfinite(out["test"]["logloss"])


def test_models_and_datasets_of_different_tasks_are_refused(data, ml100k):
    from recsys.train.config import ConfigError

    ds, _ = data
    with pytest.raises(ConfigError, match="CTR datasets train context models"):
        train_run("SASRec", ds, QUICK)
    with pytest.raises(ConfigError, match="need a ctr or multi_scenario dataset"):
        train_run("STAR", ml100k, QUICK)
