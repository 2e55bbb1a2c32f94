"""RecBole 1.2.1 on numpy 2 / torch >= 2.6 / scipy >= 1.17, through recsys.recbole.compat."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import recsys  # noqa: F401  (applies the patches)
from recsys.recbole.bridge import recbole_config, run_recbole

SMALL_SASREC = dict(epochs=5, MAX_ITEM_LIST_LENGTH=20, hidden_size=32, inner_size=64, n_layers=1, n_heads=1,
                    train_batch_size=2048, learning_rate=0.005, stopping_step=10)


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def test_numpy_aliases_restored_with_numpy1_meaning():
    assert np.float is float and np.int is int and np.object is object
    from recbole.evaluator.metrics import MAP  # uses np.float at call time

    assert MAP is not None


def test_anomaly_detection_off_after_importing_recbole_sequential_models():
    on = "import recbole.model.sequential_recommender, torch; print(torch.is_anomaly_enabled())"
    assert _python(on) == "True"  # RecBole alone switches it on for the whole process
    assert _python("import recsys; " + on) == "False"
    assert _python(on.replace("print", "import recsys; print")) == "False"  # recsys imported later


def test_dok_matrix_update_restored():
    import scipy.sparse as sp

    m = sp.dok_matrix((3, 3), dtype=np.float32)
    m._update({(0, 1): 1.0, (2, 0): 2.0})
    assert m.toarray()[0, 1] == 1.0 and m.nnz == 2


def test_lightgcn_builds_its_graph(ml100k):
    from recbole.data import create_dataset, data_preparation
    from recbole.model.general_recommender import LightGCN

    config = recbole_config(LightGCN, ml100k, {"epochs": 1})
    train, _, _ = data_preparation(config, create_dataset(config))
    model = LightGCN(config, train.dataset)
    adj = model.norm_adj_matrix.coalesce()
    n = train.dataset.user_num + train.dataset.item_num
    assert adj.shape == (n, n)
    assert adj._nnz() == 2 * len(train.dataset.inter_feat)  # each training edge, both directions
    assert torch.isfinite(adj.values()).all()


def test_float_field_with_missing_value_is_filled(tmp_path):
    from recbole.config import Config
    from recbole.data import create_dataset
    from recbole.model.general_recommender import Pop

    d = tmp_path / "tiny"
    d.mkdir()
    (d / "tiny.inter").write_text("user_id:token\titem_id:token\tprice:float\ttags:token_seq\n"
                                  "1\t1\t2.0\ta b\n1\t2\t\t\n2\t1\t4.0\tb\n2\t2\t6.0\tc\n")
    cfg = {"data_path": str(tmp_path), "show_progress": False, "state": "ERROR",
           "load_col": {"inter": ["user_id", "item_id", "price", "tags"]}}
    ds = create_dataset(Config(model=Pop, dataset="tiny", config_dict=cfg))
    col = ds.inter_feat["price"]
    price = np.asarray(col.to_numpy() if hasattr(col, "to_numpy") else col.numpy(), dtype=float)
    assert not np.isnan(price).any()
    assert sorted(price.tolist()) == pytest.approx([2.0, 4.0, 4.0, 6.0])  # the gap gets the mean
    assert len(ds.inter_feat["tags"]) == 4  # the empty token_seq did not crash the load


def test_recbole_pipeline_end_to_end_beats_popularity(ml100k):
    """RecBole's own Config/create_dataset/data_preparation/Trainer, best model reloaded from disk."""
    pop = run_recbole("Pop", ml100k, {"epochs": 1})
    bpr = run_recbole("BPR", ml100k, {"epochs": 10, "train_batch_size": 2048, "learning_rate": 0.002})
    sas = run_recbole("SASRec", ml100k, SMALL_SASREC)
    for run in (pop, bpr, sas):
        assert all(math.isfinite(v) for v in run["test"].values())
    assert bpr["test"]["ndcg@10"] > 1.1 * pop["test"]["ndcg@10"]
    assert sas["test"]["ndcg@10"] > 1.2 * pop["test"]["ndcg@10"]
    # the checkpoint RecBole wrote holds only tensors and plain values
    ckpt = torch.load(sas["checkpoint"], weights_only=True)
    assert ckpt["config"]["model"] == "SASRec" and "state_dict" in ckpt


def test_our_model_runs_inside_recbole(ml100k):
    """Into RecBole: our MostPop through RecBole's own Config / data_preparation / Trainer."""
    ours = run_recbole("MostPop", ml100k, {"epochs": 1})
    assert ours["model"] == "MostPop" and ours["test"]["ndcg@10"] > 0.03


def test_recbole_sequential_split_equals_ours(ml100k):
    """RecBole's own leave-one-out on our export picks exactly our test item for every user."""
    from recbole.data import create_dataset, data_preparation

    config = recbole_config("SASRec", ml100k, {"epochs": 1})
    dataset = create_dataset(config)
    _, _, test = data_preparation(config, dataset)
    d = test._dataset
    users = dataset.id2token("user_id", d.inter_feat["user_id"].numpy())
    items = dataset.id2token("item_id", d.inter_feat["item_id"].numpy())
    theirs = dict(zip(users.tolist(), items.tolist()))
    ours = dict(ml100k.split("test").select("user_id", "item_id").iter_rows())
    assert theirs == ours


def test_ml100k_data_path_is_honoured_only_where_it_holds_the_dataset(tmp_path):
    from recbole.config import Config

    (tmp_path / "ml-100k").mkdir()
    mine = Config(model="BPR", dataset="ml-100k", config_dict={"data_path": str(tmp_path), "state": "ERROR"})
    assert mine["data_path"] == str(tmp_path / "ml-100k")
    elsewhere = Config(model="BPR", dataset="ml-100k",
                       config_dict={"data_path": str(tmp_path / "empty"), "state": "ERROR"})
    bundled = os.path.normpath(elsewhere["data_path"])
    assert bundled.endswith(os.path.join("recbole", "dataset_example", "ml-100k"))  # RecBole's bundled copy
