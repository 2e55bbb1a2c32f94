"""TTA4SR: exact identity at zero perturbation, correct operators, gains on a trained model,
the wrapper inside RecBole's own Trainer around RecBole's unchanged SASRec, and the CLI path."""

import json

import numpy as np
import pytest
import torch

from recsys.data.tensors import DatasetTensors
from recsys.models.sequential.tta4sr import (
    OPERATORS,
    Augmenter,
    TTAConfig,
    tta_defaults,
)
from recsys.recbole.interaction import score_function
from recsys.train.run import train_run
from recsys.train.tta import CheckpointMismatch, load_trained, tta_run

SMALL = {"SASRec": dict(hidden_size=32, inner_size=64, n_layers=1, n_heads=1),
         "GRU4Rec": dict(embedding_size=32, hidden_size=32)}


@pytest.fixture(scope="module")
def trained(ml100k, tmp_path_factory):
    """Small SASRec and GRU4Rec trained on ml-100k, saved as checkpoints."""
    tensors = DatasetTensors(ml100k)
    out = {}
    for name, cfg in SMALL.items():
        path = tmp_path_factory.mktemp("ckpt") / name
        run = train_run(name, ml100k, {"epochs": 3, "MAX_ITEM_LIST_LENGTH": 20, "progress": False, **cfg},
                        seed=1, tensors=tensors, checkpoint=path)
        assert run.status == "ok"
        out[name] = (path, run)
    return tensors, out


@pytest.mark.parametrize("backbone", ["SASRec", "GRU4Rec"])
def test_zero_perturbation_reproduces_the_backbone_exactly(trained, ml100k, backbone):
    tensors, runs = trained
    model, _, _ = load_trained(runs[backbone][0], ml100k, tensors)
    users = np.arange(1, 300)
    history = tensors.history("test")
    plain = score_function(model, 20)(users, history)
    for op in OPERATORS:
        cfg = TTAConfig(op, sigma=0.0, noise_a=0.0, noise_b=0.0, copies=4, input_passes=2, output_passes=2)
        scores = Augmenter(model, cfg, 20).score_function()(users, history)
        assert torch.equal(scores, plain), op
    noisy = Augmenter(model, TTAConfig("TMask-R", sigma=0.5), 20).score_function()(users, history)
    assert not torch.equal(noisy, plain)


def _spy(model, cfg, max_len):
    """An Augmenter that records every (sequence, length) copy it hands to the backbone."""
    seen = []

    class Spy(Augmenter):
        def _predict(self, seq, lengths, users):
            seen.append((seq.clone(), lengths.clone()))
            return super()._predict(seq, lengths, users)

    return Spy(model, cfg, max_len), seen


def test_tmask_r_deletes_floor_sigma_n_items_of_the_untruncated_history_in_order(trained, ml100k):
    tensors, runs = trained
    model, _, _ = load_trained(runs["SASRec"][0], ml100k, tensors)
    aug, seen = _spy(model, TTAConfig("TMask-R", sigma=0.5, copies=3), 20)
    full = torch.tensor([[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
                          28, 29, 30, 31, 32, 33, 34]])
    aug.scores(full, torch.tensor([30]), torch.tensor([1]), seed=3)
    for seq, length in seen:
        # 30 items, 15 deleted, 15 kept (fits in 20): taken from the whole history, not its last 20
        assert int(length) == 15
        kept = seq[0, :15].tolist()
        assert kept == sorted(kept) and set(kept) <= set(full[0].tolist()) and (seq[0, 15:] == 0).all()
    assert any(min(s[0, :15].tolist()) < 15 for s, _ in seen)  # items from before the last-20 window


def test_tmask_b_pads_in_place_and_keeps_length(trained, ml100k):
    tensors, runs = trained
    model, _, _ = load_trained(runs["SASRec"][0], ml100k, tensors)
    aug, seen = _spy(model, TTAConfig("TMask-B", sigma=0.4, copies=2), 20)
    aug.scores(torch.arange(1, 11)[None], torch.tensor([10]), torch.tensor([1]), seed=0)
    for seq, length in seen:
        assert int(length) == 10 and int((seq[0, :10] == 0).sum()) == 4
        assert [x for x in seq[0, :10].tolist() if x] == sorted(x for x in seq[0, :10].tolist() if x)


def test_per_dataset_defaults_follow_the_paper():
    assert tta_defaults("beauty", "SASRec", "TMask-R").sigma == 0.5
    assert tta_defaults("sports", "GRU4Rec", "TMask-R").sigma == 0.7
    yelp = tta_defaults("yelp", "SASRec", "TNoise")
    assert (yelp.noise_a, yelp.noise_b, yelp.input_passes, yelp.out_a, yelp.out_b) == (2.0, 1.0, 5, 0.5, 0.1)
    with pytest.raises(ValueError, match="unknown TTA operator"):
        TTAConfig("Crop")


def test_tta_run_records_backbone_timing_and_changes_ranking(trained, ml100k):
    tensors, runs = trained
    path, run = runs["SASRec"]
    result = tta_run(path, ml100k, "TMask-R", {"sigma": 0.3}, seed=1, tensors=tensors)
    timing = result.fit["inference"]["test"]
    assert result.model == "TTA4SR(SASRec, TMask-R)" and result.config["augments"] == "untruncated"
    assert timing["backbone_ndcg@10"] == pytest.approx(run.test["test"].summary["ndcg@10"], abs=1e-9)
    assert timing["time_ratio"] > 2.0  # ten copies cost more than one pass
    assert result.test["test"].summary["ndcg@10"] != timing["backbone_ndcg@10"]
    assert result.test["test"].summary["ndcg@10"] > 0.5 * timing["backbone_ndcg@10"]


def test_checkpoint_from_another_dataset_is_refused(trained, tmp_path, ml100k):
    tensors, runs = trained
    path = runs["SASRec"][0]
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["fingerprint"] = "0" * 16
    other = tmp_path / "other"
    other.with_suffix(".json").write_text(json.dumps(meta))
    other.with_suffix(".pt").write_bytes(path.with_suffix(".pt").read_bytes())
    with pytest.raises(CheckpointMismatch, match="fingerprint"):
        load_trained(other, ml100k, tensors)


def test_tta4sr_runs_inside_recboles_trainer_around_recboles_sasrec(ml100k):
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender.sasrec import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    from recsys.models.sequential.tta4sr import TTA4SR
    from recsys.recbole.bridge import recbole_config

    cfg = {"backbone": "SASRec", "tta_operator": "TMask-R", "tta_sigma": 0.0, "tta_copies": 2, "epochs": 1,
           "MAX_ITEM_LIST_LENGTH": 20, "hidden_size": 32, "inner_size": 64, "n_layers": 1, "n_heads": 1,
           "train_batch_size": 2048, "seed": 3}
    config = recbole_config(TTA4SR, ml100k, cfg)
    init_seed(3, True)
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    init_seed(3, True)
    model = TTA4SR(config, train.dataset)
    assert type(model.backbone) is SASRec  # RecBole's class, unchanged
    trainer = Trainer(config, model)
    trainer.fit(train, valid, saved=False, show_progress=False)
    wrapped = trainer.evaluate(test, load_best_model=False, show_progress=False)
    # sigma 0: the wrapper's scores are the backbone's, so RecBole's metrics agree exactly
    plain = Trainer(config, model.backbone).evaluate(test, load_best_model=False, show_progress=False)
    assert wrapped["ndcg@10"] == plain["ndcg@10"] and wrapped["ndcg@10"] > 0.01


def test_cli_applies_tta_to_a_trained_checkpoint(trained, tmp_path, capsys):
    from recsys.cli import main

    path = trained[1]["SASRec"][0]
    code = main(["train", "--model", "TTA4SR", "--backbone", "SASRec", "--operator", "TMask-R", "--dataset",
                 "ml-100k", "--checkpoint", str(path), "--results", str(tmp_path / "res"), "--tta-copies", "3"])
    out = capsys.readouterr().out
    assert code == 0 and "TTA4SR(SASRec, TMask-R)" in out and "backbone" in out
    records = [json.loads(p.read_text()) for p in (tmp_path / "res" / "runs").glob("*.json")]
    assert records[0]["config"]["tta_copies"] == 3 and records[0]["config"]["backbone"] == "SASRec"
    assert main(["train", "--model", "TTA4SR", "--backbone", "GRU4Rec", "--dataset", "ml-100k",
                 "--checkpoint", str(path), "--results", str(tmp_path / "res")]) == 2
    assert "holds a SASRec model" in capsys.readouterr().err


def test_sigma_is_chosen_on_validation_only(trained, ml100k, monkeypatch):
    import recsys.train.tta as tta_module

    tensors, runs = trained
    phases = []
    real = tta_module.evaluate_task

    def spy(score_fn, tensors_, phase, *a, **k):
        phases.append(phase)
        return real(score_fn, tensors_, phase, *a, **k)

    monkeypatch.setattr(tta_module, "evaluate_task", spy)
    result = tta_run(runs["SASRec"][0], ml100k, "TMask-R", {"sigma_grid": [0.1, 0.6], "copies": 2}, seed=1,
                     tensors=tensors)
    scores = result.fit["sigma_selection"]
    assert set(scores) == {"0.1", "0.6"} and phases[:2] == ["valid", "valid"] and "valid" not in phases[2:]
    chosen = max((0.1, 0.6), key=lambda g: scores[str(g)])
    assert result.config["tta_sigma"] == chosen and result.config["tta_sigma_grid"] == [0.1, 0.6]
