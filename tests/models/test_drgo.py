"""DRGO on a real OOD split (MovieLens-100K with a popularity-shifted test_ood, built by our split
builder): propagation over training edges only, training items masked, model selection blind to
the test splits, learning against popularity on IID and OOD tests, every module trained, the
DRO pieces' maths, and DRGO inside RecBole's own Trainer."""

import numpy as np
import polars as pl
import pytest
import torch

from recsys.data import schema as S
from recsys.data.ood import ood_recipe
from recsys.data.prepare import PreparedDataset, prepare
from recsys.data.recipe import find_recipe
from recsys.data.tensors import DatasetTensors
from recsys.eval.evaluator import evaluate
from recsys.models.graph.diffusion import LatentDiffusion
from recsys.models.graph.dro import GroupWeights, sinkhorn_cost
from recsys.models.registry import get_model_spec
from recsys.recbole.dataset_view import TrainDatasetView
from recsys.recbole.interaction import score_function
from recsys.train.config import recbole_model_config
from recsys.train.run import train_run

SMALL = {"embedding_size": 32, "train_batch_size": 1024, "learning_rate": 5e-3, "eval_batch_size": 4096,
         "valid_metric": "ndcg@20", "topk": [10, 20], "progress": False}


@pytest.fixture(scope="module")
def ood(tmp_path_factory):
    return prepare(ood_recipe(find_recipe("ml-100k"), "popularity", tmp_path_factory.mktemp("recipes")),
                   progress=False)


def _variant(ds: PreparedDataset, splits=("valid", "test", "test_ood"), seed: int = 0) -> PreparedDataset:
    """The same dataset with other items in the given splits (training rows unchanged)."""
    v = PreparedDataset(ds.path)
    inter = ds.interactions
    held = inter[S.SPLIT].is_in(list(splits)).to_numpy()
    items = inter[S.ITEM_IDX].to_numpy().copy()
    items[held] = np.random.default_rng(seed).permutation(items[held])
    v.__dict__["interactions"] = inter.with_columns(pl.Series(S.ITEM_IDX, items))
    return v


def build(ds, tensors=None, **extra):
    spec = get_model_spec("DRGO")
    cls, config = recbole_model_config(spec, ds, {**SMALL, **extra}, seed=1)
    torch.manual_seed(0)
    return cls(config, TrainDatasetView(tensors or DatasetTensors(ds), "DRGO"))


def test_no_validation_or_test_edge_reaches_propagation(ood):
    t = DatasetTensors(ood)
    a, b = build(ood, t).eval(), build(_variant(ood)).eval()
    users = np.arange(1, 50)
    from recbole.data.interaction import Interaction

    batch = Interaction({a.USER_ID: torch.from_numpy(users)})
    assert torch.equal(a.full_sort_predict(batch), b.full_sort_predict(batch))
    train_pairs = len(set(zip(*(x.tolist() for x in t.train_pairs()))))
    assert a.encoder.adj._nnz() == 2 * train_pairs  # each training edge, both directions, nothing else
    assert len(ood.split("test")) + len(ood.split("test_ood")) > 0.3 * train_pairs


def test_training_items_are_masked_at_evaluation(ood):
    t = DatasetTensors(ood)
    model = build(ood, t).eval()
    base = score_function(model, 50)
    train = t.history("test")  # train + valid: what the test phases mask

    def boosted(users, history):
        scores = base(users, history).clone()
        for row, u in enumerate(users):
            scores[row, torch.from_numpy(train[u])] += 1e6  # a leak would put these on top
        return scores

    for phase in ("test", "test_ood"):
        plain, leaky = evaluate(base, t, phase, (20,)), evaluate(boosted, t, phase, (20,))
        assert plain.summary["ndcg@20"] == pytest.approx(leaky.summary["ndcg@20"])
        assert plain.summary["recall@20"] > 0


def test_model_selection_never_reads_the_test_splits(ood):
    cfg = {**SMALL, "epochs": 2, "stopping_step": 5}
    one = train_run("DRGO", ood, cfg, seed=3)
    two = train_run("DRGO", _variant(ood, ("test", "test_ood")), cfg, seed=3)
    assert one.status == two.status == "ok"
    assert one.fit["valid_history"] == two.fit["valid_history"]
    assert one.fit["losses"] == pytest.approx(two.fit["losses"], rel=1e-6)  # threaded sums: last bits only
    assert one.fit["best_epoch"] == two.fit["best_epoch"]
    assert one.metric("ndcg@20") != two.metric("ndcg@20")  # the variant's test targets did change


def test_learns_and_beats_popularity_on_iid_and_ood_tests(ood):
    run = train_run("DRGO", ood, {**SMALL, "epochs": 4, "stopping_step": 5}, seed=1)
    pop = train_run("MostPop", ood, {"progress": False, "topk": [10, 20]}, seed=1)
    assert run.status == "ok", run.error
    assert run.fit["losses"][-1] < run.fit["losses"][0]
    for phase in ("test", "test_ood"):
        assert run.metric("ndcg@20", phase) > 1.15 * pop.metric("ndcg@20", phase), phase


def test_every_module_is_trained_and_the_ablations_switch_off(ood):
    from recbole.data.interaction import Interaction

    model = build(ood).train()
    u = torch.arange(1, 200)
    batch = Interaction({model.USER_ID: u, model.ITEM_ID: torch.randint(1, 100, (199,)),
                         model.NEG_ITEM_ID: torch.randint(100, 1000, (199,))})
    model.calculate_loss(batch).backward()
    for name, p in model.named_parameters():  # the official DRO stage had nothing in its optimiser
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert set(model.last_terms) == {"rank", "diffusion", "transport", "weight_entropy"}
    assert not torch.equal(model.group_weights.weights, torch.full((5,), 0.2))  # one (small) step taken
    assert len(model.reference_nodes) == round(0.05 * len(model.encoder.adj.coalesce().indices()[0].unique()))

    plain = build(ood, use_dro=False, use_diffusion=False).train()
    plain.calculate_loss(batch)
    assert plain.diffusion is None and set(plain.last_terms) == {"rank"}
    assert torch.equal(plain.group_weights.weights, torch.full((5,), 0.2))
    users, items = plain.encoder()
    plain.eval()
    scores = plain.full_sort_predict(Interaction({plain.USER_ID: u[:3]})).reshape(3, -1)
    assert torch.allclose(scores, users[u[:3]] @ items.T, atol=1e-5)


def test_group_weights_reach_the_entropy_regularised_worst_case():
    losses = torch.tensor([1.0, 0.5, 0.2])
    w = GroupWeights(3, step_size=0.5, entropy_weight=0.2, smoothing=1.0)
    for _ in range(300):
        w.update(losses, torch.ones(3, dtype=torch.bool))
    assert torch.allclose(w.weights, torch.softmax(losses / 0.2, 0), atol=1e-4)
    greedy = GroupWeights(3, step_size=0.5, entropy_weight=0.0, smoothing=1.0)
    for _ in range(300):
        greedy.update(losses, torch.ones(3, dtype=torch.bool))
    assert greedy.weights[0] > 0.999  # without the regulariser the adversary takes one group
    absent = GroupWeights(3, step_size=0.5, entropy_weight=0.2, smoothing=1.0)
    absent.update(losses, torch.tensor([True, False, True]))
    assert absent.smoothed[1] == 0 and not absent.seen[1]


def test_sinkhorn_cost_is_small_for_matching_clouds_and_differentiable():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g, requires_grad=True)
    same = sinkhorn_cost(x, x.detach() + 0.01 * torch.randn(64, 8, generator=g))
    far = sinkhorn_cost(x, -x.detach())
    assert same < 0.1 < far
    far.backward()
    assert x.grad.abs().sum() > 0


def test_diffusion_loss_weights_and_one_step_denoising():
    d = LatentDiffusion(8, steps=100, denoise_from=1)
    assert d.loss_weight.mean() == pytest.approx(1.0) and d.loss_weight[1] > d.loss_weight[50]
    x = torch.randn(4, 8)
    assert torch.equal(d.denoise(x), d.predict_x0(x, torch.zeros(4, dtype=torch.long)))
    with pytest.raises(ValueError, match="denoise_from"):
        LatentDiffusion(8, steps=10, denoise_from=11)


def test_runs_inside_recboles_own_trainer(ood):
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    from recsys.recbole.bridge import recbole_config

    cls = get_model_spec("DRGO").load()
    config = recbole_config(cls, ood, {"embedding_size": 32, "epochs": 3, "train_batch_size": 1024,
                                       "learning_rate": 5e-3, "seed": 2})
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    init_seed(2, True)
    model = cls(config, train.dataset)
    assert model.encoder.adj._nnz() == 2 * train.dataset.inter_num  # RecBole's training graph, nothing else
    trainer = Trainer(config, model)
    before = trainer.evaluate(test, load_best_model=False, show_progress=False)
    trainer.fit(train, valid, saved=False, show_progress=False)
    after = trainer.evaluate(test, load_best_model=False, show_progress=False)
    assert after["ndcg@10"] > 1.3 * before["ndcg@10"], (before, after)
