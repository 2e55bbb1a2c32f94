"""HNLMRec on MovieLens-100K with the nearest-text hard negatives: each training pair finds its own
hard negative, the adapter is trained, a pair without one falls back to the uniform negative
exactly, the model learns and beats popularity (on a random split with several test items per user:
on leave-one-out ml-100k, graph models are no better than popularity at any setting we tried), and
it runs inside RecBole's own Trainer."""

import numpy as np
import pytest
import torch
from recbole.data.interaction import Interaction

from recsys.bench.run_types import train_model
from recsys.data.tensors import DatasetTensors  # noqa: F401
from recsys.models.registry import get_model_spec
from recsys.recbole.dataset_view import TrainDatasetView
from recsys.train.config import recbole_model_config
from recsys.train.run import train_run

SMALL = {"embedding_size": 32, "train_batch_size": 1024, "learning_rate": 5e-3, "eval_batch_size": 4096,
         "valid_metric": "ndcg@20", "topk": [10, 20], "progress": False}


def make(built, **extra):
    ds, tensors, inputs, _ = built
    cls, config = recbole_model_config(get_model_spec("HNLMRec"), ds, {**SMALL, **extra}, seed=1)
    for key, value in inputs.items():
        config[key] = value
    torch.manual_seed(0)
    return cls(config, TrainDatasetView(tensors, "HNLMRec"))


def test_each_training_pair_finds_its_own_hard_negative(built):
    _, _, inputs, metas = built
    assert any(m["artefact"] == "hard-negatives-nearest-text" and not m["is_llm"] for m in metas)
    model = make(built)
    pairs = inputs["hard_negative_pairs"]
    pick = np.random.default_rng(0).choice(len(pairs), 300, replace=False)
    user, pos = torch.from_numpy(pairs[pick, 0]), torch.from_numpy(pairs[pick, 1])
    row, found = model.hard_negatives(user, pos)
    assert found.float().mean() > 0.95
    assert torch.equal(model.pair_items[row][found], torch.from_numpy(pairs[pick, 2])[found])
    vec = torch.from_numpy(inputs["hard_negative_vectors"][pick]).float()
    assert torch.equal(model.pair_vectors[row][found], vec[found])
    _, missing = model.hard_negatives(user, torch.zeros_like(pos))  # item 0 is padding: never a pair
    assert not missing.any()


def test_adapter_is_trained_and_missing_pairs_use_the_uniform_negative(built):
    model = make(built, alpha=0.5).train()
    ds, _, inputs, _ = built
    pairs = inputs["hard_negative_pairs"][:256]
    batch = Interaction({model.USER_ID: torch.from_numpy(pairs[:, 0]), model.ITEM_ID: torch.from_numpy(pairs[:, 1]),
                         model.NEG_ITEM_ID: torch.randint(1, 1000, (256,))})
    model.calculate_loss(batch).backward()
    for name, p in model.named_parameters():  # the official code left the adapter out of the optimiser
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model.last_terms["hard_share"] > 0.9 and "contrastive" in model.last_terms
    # pairs that are not training pairs have no hard negative: the loss is plain LightGCN hinge
    plain = make(built, alpha=0.5, contrastive_weight=0.0).train()
    fake = Interaction({plain.USER_ID: torch.tensor([1, 2]), plain.ITEM_ID: torch.tensor([0, 0]),
                        plain.NEG_ITEM_ID: torch.tensor([5, 6])})
    users, items = plain.encoder()
    u, e_pos, e_neg = users[[1, 2]], items[[0, 0]], items[[5, 6]]
    expected = torch.relu((u * e_neg).sum(-1) - (u * e_pos).sum(-1) + 0.3).mean()
    ego = (plain.encoder.user.weight[[1, 2]].pow(2).sum() + plain.encoder.item.weight[[0, 0]].pow(2).sum()
           + plain.encoder.item.weight[[5, 6]].pow(2).sum()) / 2
    assert plain.calculate_loss(fake).item() == pytest.approx((expected + 1e-4 * ego).item(), rel=1e-5)


@pytest.mark.parametrize("loss", ["bpr", "hinge"])
def test_learns_and_beats_popularity(tmp_path_factory, loss):
    from recsys.data.ood import ood_recipe
    from recsys.data.prepare import prepare
    from recsys.data.recipe import find_recipe

    ds = prepare(ood_recipe(find_recipe("ml-100k"), "popularity", tmp_path_factory.mktemp("r")), progress=False)
    run = train_model("HNLMRec", ds, {**SMALL, "epochs": 4, "stopping_step": 5, "hnlm_loss": loss}, seed=1)
    pop = train_run("MostPop", ds, {"progress": False, "topk": [10, 20]}, seed=1)
    assert run.status == "ok", run.error
    assert run.fit["losses"][-1] < run.fit["losses"][0]
    assert run.metric("ndcg@20") > 1.1 * pop.metric("ndcg@20")
    assert any(a["artefact"] == "hard-negatives-nearest-text" for a in run.llm_artefacts)


def test_runs_inside_recboles_own_trainer(built):
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    from recsys.recbole.bridge import recbole_config
    from recsys.recbole.ids import align_to_recbole

    ds, _, inputs, _ = built
    cls = get_model_spec("HNLMRec").load()
    config = recbole_config(cls, ds, {"embedding_size": 32, "epochs": 3, "train_batch_size": 1024,
                                      "learning_rate": 5e-3, "seed": 2, "hnlm_loss": "bpr"})
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    aligned = align_to_recbole(train.dataset, ds, inputs)
    for key, value in aligned.items():
        config[key] = value
    init_seed(2, True)
    model = cls(config, train.dataset)
    # RecBole's own training pairs find their hard negatives under RecBole's ids
    u = train.dataset.inter_feat[train.dataset.uid_field][:500]
    i = train.dataset.inter_feat[train.dataset.iid_field][:500]
    _, found = model.hard_negatives(u, i)
    assert found.float().mean() > 0.95
    trainer = Trainer(config, model)
    before = trainer.evaluate(test, load_best_model=False, show_progress=False)
    trainer.fit(train, valid, saved=False, show_progress=False)
    after = trainer.evaluate(test, load_best_model=False, show_progress=False)
    assert after["ndcg@10"] > 1.3 * before["ndcg@10"], (before, after)
