"""PopBlend, the popularity control beside test-time methods: lambda = 0 is the backbone exactly, a huge
lambda is the popularity ranking, and lambda is chosen on validation only."""

import pytest

from recsys.train.pop_blend import pop_blend_run
from recsys.train.run import train_run

SMALL = {"hidden_size": 16, "inner_size": 32, "n_layers": 1, "n_heads": 1, "MAX_ITEM_LIST_LENGTH": 20,
         "train_batch_size": 1024, "epochs": 2, "progress": False}


@pytest.fixture(scope="module")
def backbone(ml100k, tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("ckpt") / "sasrec"
    run = train_run("SASRec", ml100k, SMALL, seed=1, checkpoint=ckpt)
    return ckpt, run


def test_zero_lambda_is_the_backbone_and_a_huge_one_is_popularity(ml100k, backbone):
    ckpt, run = backbone
    same = pop_blend_run(ckpt, ml100k, grid=(0.0,), seed=1)
    assert same.metric("ndcg@10") == pytest.approx(run.metric("ndcg@10"), abs=1e-9)
    pop = train_run("MostPop", ml100k, {"progress": False}, seed=1)
    popular = pop_blend_run(ckpt, ml100k, grid=(1e4,), seed=1)
    # the popularity ranking up to ties (the backbone's scores still order equally popular items)
    gap = abs(popular.metric("hit@10") - pop.metric("hit@10"))
    assert gap < 0.005 and gap < 0.5 * abs(run.metric("hit@10") - pop.metric("hit@10"))


def test_lambda_is_chosen_on_validation(ml100k, backbone, monkeypatch):
    import recsys.train.pop_blend as module

    phases = []
    real = module.evaluate_task

    def spy(fn, tensors, phase, *args, **kwargs):
        phases.append(phase)
        return real(fn, tensors, phase, *args, **kwargs)

    monkeypatch.setattr(module, "evaluate_task", spy)
    r = pop_blend_run(backbone[0], ml100k, grid=(0.0, 0.2, 1.0), seed=1)
    sel = r.fit["lambda_selection"]
    assert phases[:3] == ["valid"] * 3 and set(sel) == {"0.0", "0.2", "1.0"}
    assert r.config["blend_lambda"] == max((0.0, 0.2, 1.0), key=lambda g: sel[str(g)])
    assert r.loss_family == "softmax-ce"  # compared under its backbone's loss
