"""RecBole's checkpoints under recsys: plain state (loaded with weights_only=True), S3Rec's pre-training
feeds its fine-tuning, the decision-tree trainer saves no pickled Config, and RecBole's own
``load_data_and_model`` rebuilds the run from a recsys checkpoint."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import recsys  # noqa: F401  (the patches)
from recsys.recbole.bridge import recbole_config, run_recbole

TINY = {"hidden_size": 16, "inner_size": 32, "n_layers": 1, "n_heads": 1, "MAX_ITEM_LIST_LENGTH": 20,
        "train_batch_size": 2048, "train_neg_sample_args": None}


def test_load_data_and_model_rebuilds_a_recsys_checkpoint(ml100k):
    from recbole.quick_start import load_data_and_model
    from recbole.trainer import Trainer

    run = run_recbole("BPR", ml100k, {"epochs": 1, "seed": 3})
    state = torch.load(run["checkpoint"], weights_only=True)  # no pickled object in it
    assert state["recbole_config"]["model"] == "BPR" and state["recbole_config"]["dataset"] == "ml-100k"
    config, model, dataset, train, valid, test = load_data_and_model(run["checkpoint"])
    assert type(model).__name__ == "BPR" and config["seed"] == 3 and dataset.user_num == 944
    again = Trainer(config, model).evaluate(test, load_best_model=False, show_progress=False)
    assert float(again["ndcg@10"]) == pytest.approx(run["test"]["ndcg@10"], abs=1e-6)  # the same weights and split


def test_a_checkpoint_without_its_plain_config_is_refused(tmp_path):
    from recbole.quick_start import load_data_and_model

    path = tmp_path / "old.pth"
    torch.save({"state_dict": {}, "config": {"model": "BPR"}}, path)
    with pytest.raises(ValueError, match="no 'recbole_config'.*never unpickles"):
        load_data_and_model(str(path))


def test_decision_tree_checkpoint_holds_no_pickled_config(ml100k, tmp_path):
    from recbole.trainer.trainer import DecisionTreeTrainer

    config = recbole_config("BPR", ml100k, {"epochs": 1})
    fake = SimpleNamespace(config=config, cur_step=2, best_valid_score=0.25, temp_best_file="tree.model",
                           saved_model_file=str(tmp_path / "tree.pth"))
    DecisionTreeTrainer._save_checkpoint(fake, 4)
    state = torch.load(tmp_path / "tree.pth", weights_only=True)
    assert state["epoch"] == 4 and state["state_dict"] == "tree.model" and state["config"]["model"] == "BPR"


def test_s3rec_pretraining_feeds_its_fine_tuning(ml100k, tmp_path):
    """RecBole's S3Rec loads its pre-trained checkpoint with a plain ``torch.load`` (weights only under
    torch >= 2.6): the checkpoint must hold no pickled Config, and fine-tuning must start from it."""
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import PretrainTrainer
    from recbole.utils import init_seed

    settings = dict(TINY, train_stage="pretrain", pretrain_epochs=1, save_step=1, item_attribute="categories",
                    checkpoint_dir=str(tmp_path), user_inter_num_interval="[0,30]",  # ~200 short users: seconds
                    load_col={"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "categories"]})
    config = recbole_config("S3Rec", ml100k, settings)
    init_seed(1, True)
    train = data_preparation(config, create_dataset(config))[0]
    trainer = PretrainTrainer(config, config.model_class(config, train.dataset))
    trainer.pretrain(train, show_progress=False)
    saved = torch.load(trainer.saved_model_file, weights_only=True)["state_dict"]

    init_seed(1, True)
    untrained = config.model_class(config, train.dataset).state_dict()
    assert any(not torch.equal(untrained[k], v) for k, v in saved.items())  # pre-training moved the weights
    tuned = recbole_config("S3Rec", ml100k, dict(settings, train_stage="finetune",
                                                 pre_model_path=trainer.saved_model_file))
    init_seed(1, True)
    state = tuned.model_class(tuned, train.dataset).state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())
