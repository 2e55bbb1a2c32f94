"""Learning on real data: baselines trained by our pipeline beat popularity on Beauty by a wide margin."""

import pytest

from recsys.data import prepare
from recsys.data.tensors import DatasetTensors
from recsys.train.run import train_run

BUDGETS = {
    "SASRec": {"epochs": 3, "train_batch_size": 1024, "hidden_size": 32, "inner_size": 64, "n_layers": 2,
               "n_heads": 2, "MAX_ITEM_LIST_LENGTH": 20, "learning_rate": 0.003},
    "GRU4Rec": {"epochs": 3, "train_batch_size": 1024, "learning_rate": 0.003, "MAX_ITEM_LIST_LENGTH": 20,
                "embedding_size": 32, "hidden_size": 64},
    "BPR": {"epochs": 10, "train_batch_size": 4096, "learning_rate": 0.005},
    "LightGCN": {"epochs": 8, "train_batch_size": 4096, "learning_rate": 0.005},
}


@pytest.fixture(scope="module")
def beauty(shared_data):
    ds = prepare("beauty", shared_data, progress=False)
    return ds, DatasetTensors(ds)


@pytest.fixture(scope="module")
def popularity(beauty):
    ds, t = beauty
    return train_run("MostPop", ds, {}, tensors=t).metric("ndcg@10")


@pytest.mark.parametrize("model", list(BUDGETS))
def test_beats_popularity_on_beauty(model, beauty, popularity):
    ds, t = beauty
    r = train_run(model, ds, {**BUDGETS[model], "progress": False, "stopping_step": 3}, seed=1, tensors=t)
    assert r.status == "ok", r.error
    ndcg = r.metric("ndcg@10")
    print(f"\n{model}: NDCG@10 {ndcg:.4f} vs MostPop {popularity:.4f} ({ndcg / popularity:.1f}x), "
          f"{r.fit['epochs_run']} epochs, {r.fit['targets_per_second']:.0f} targets/s")
    assert ndcg > 1.5 * popularity
