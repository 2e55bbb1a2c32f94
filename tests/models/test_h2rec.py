"""H2Rec: causality of every attention path, training-only co-occurrence positives, score contracts,
learning on real data, running inside RecBole's own Trainer, and refusing text-less datasets."""

import numpy as np
import pytest
import torch

from recsys.bench.run_types import train_model
from recsys.data import prepare
from recsys.data.cooccurrence import ppmi_neighbours
from recsys.data.tensors import DatasetTensors
from recsys.llm.inputs import model_inputs
from recsys.models.protocol import MissingModelInput
from recsys.models.registry import get_model_spec
from recsys.recbole.dataset_view import TrainDatasetView
from recsys.train.config import recbole_model_config
from recsys.train.run import train_run
from tests.conftest import write

SMALL = {"hidden_size": 32, "inner_size": 64, "n_layers": 1, "n_heads": 1, "MAX_ITEM_LIST_LENGTH": 20,
         "sid_levels": 3, "sid_codes": 64}


@pytest.fixture(scope="module")
def built(ml100k):
    tensors = DatasetTensors(ml100k)
    spec = get_model_spec("H2Rec")
    cls, config = recbole_model_config(spec, ml100k, SMALL, seed=1)
    inputs, metas = model_inputs(spec.needs, ml100k, tensors, SMALL)
    for key, value in inputs.items():
        config[key] = value
    torch.manual_seed(0)
    return cls(config, TrainDatasetView(tensors, "H2Rec")).eval(), tensors, inputs, metas


def _outputs(model, seq, level_mask=None):
    with torch.no_grad():
        h_hash, h_sid, alpha = model.encode(seq, level_mask)
    return {"hash path": h_hash, "sid path": h_sid, "gate": alpha}


def test_changing_a_future_item_never_changes_an_earlier_position(built):
    model, tensors, _, _ = built
    seq, _ = tensors.train.window(np.arange(1, 65), 20)
    seq = seq[(seq > 0).sum(1) == 20]  # full windows: every position is a real item
    t = 12
    changed = seq.clone()
    changed[:, t:] = torch.randint(1, tensors.n_items + 1, changed[:, t:].shape)
    level_mask = torch.zeros(*seq.shape, model.levels, dtype=torch.bool)
    level_mask[:, :, 0] = True
    for mask in (None, level_mask):
        before, after = _outputs(model, seq, mask), _outputs(model, changed, mask)
        for path in before:
            assert torch.allclose(before[path][:, :t], after[path][:, :t], atol=1e-6), path
            assert not torch.allclose(before[path][:, t:], after[path][:, t:]), path  # the change is visible later
    # each SID->HID cross-attention path on its own
    with torch.no_grad():
        x, x2 = model._inputs(model.item_embedding(seq)), model._inputs(model.item_embedding(changed))
        views = model._inputs(model.sid_levels(seq)[:, :, 0])
        for att in [*model.sid_to_hid, model.hid_to_sid]:
            a, b = att(views, x, model._mask(seq)), att(views, x2, model._mask(changed))
            assert torch.allclose(a[:, :t], b[:, :t], atol=1e-6)


def test_the_causality_check_catches_a_bidirectional_mask(built, monkeypatch):
    model, tensors, _, _ = built
    seq, _ = tensors.train.window(np.arange(1, 65), 20)
    seq = seq[(seq > 0).sum(1) == 20]
    changed = seq.clone()
    changed[:, 15] = (changed[:, 15] % tensors.n_items) + 1
    monkeypatch.setattr(model, "_mask", lambda s: model.get_attention_mask(s, bidirectional=True))
    before, after = _outputs(model, seq), _outputs(model, changed)
    assert not torch.allclose(before["hash path"][:, :15], after["hash path"][:, :15], atol=1e-6)


def test_cooccurrence_positives_come_from_training_interactions_only(tmp_path):
    # every user: a b a b | c (valid) d (test); c and d only ever meet outside training
    lines = [f"{u} 1 2 1 2 3 4" for u in range(1, 41)] + [f"{u} 5 6 5 6 3 4" for u in range(41, 81)]
    write(tmp_path / "data/co/seq.txt", "\n".join(lines) + "\n")
    write(tmp_path / "co.toml", 'name = "co"\ndescription = "toy"\ntask = "sequential"\n[files.inter]\npath = "co/seq.txt"\n'
          '[interactions]\nfile = "inter"\nformat = "s3rec_lines"\n[split]\nmethod = "leave_one_out"\n')
    ds = prepare(tmp_path / "co.toml", tmp_path / "data", progress=False)
    tensors = DatasetTensors(ds)
    idx = dict(zip(ds.items["item_id"].cast(str).to_list(), ds.items["item_idx"].to_list()))
    w = ppmi_neighbours(tensors.train, tensors.n_items)
    a, b, c, d = (idx[k] for k in "1234")
    assert w[a, b] == 1.0 and w[b, a] == 1.0
    assert w[c, d] == 0.0 and w[d, c] == 0.0 and w[a, c] == 0.0
    assert w[a, idx["5"]] == 0.0  # never in one window
    # the same counts over all interactions would link c and d: the leak the official code has
    from recsys.data.tensors import ragged

    everything = ppmi_neighbours(ragged(ds.interactions, tensors.n_users), tensors.n_items)
    assert everything[c, d] > 0.0


def test_ppmi_rows_are_capped_and_rescaled(ml100k):
    tensors = DatasetTensors(ml100k)
    w = ppmi_neighbours(tensors.train, tensors.n_items, top=50)
    per_row = np.diff(w.indptr)
    assert per_row.max() <= 50 and per_row.sum() > 10_000
    assert w.data.min() >= 0.3 - 1e-6 and w.data.max() <= 1.0 + 1e-6
    assert (abs(w - w.T) > 0).nnz > 0  # top-k per row: not forced symmetric, but both directions exist
    assert w.diagonal().sum() == 0


def test_score_contracts(built):
    model, tensors, _, _ = built
    from recbole.data.interaction import Interaction

    seq, lengths = tensors.train.window(np.arange(1, 9), 20)
    inter = Interaction({model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: lengths, model.USER_ID: torch.arange(1, 9),
                         model.ITEM_ID: torch.arange(5, 13)})
    with torch.no_grad():
        full = model.full_sort_predict(inter)
        point = model.predict(inter)
    assert full.shape == (8, tensors.n_items + 1) and torch.isfinite(full).all()
    assert torch.allclose(point, full[torch.arange(8), torch.arange(5, 13)], atol=1e-5)
    assert model.all_item_embeddings().shape == (tensors.n_items + 1, 2 * 32)
    # the SID codebooks are frozen by default; the hash table trains
    assert not model.codebooks.requires_grad and model.item_embedding.weight.requires_grad


def test_item_alignment_treats_repeated_items_as_one(built):
    model, _, _, _ = built
    model.train()
    a = model.item_alignment_loss(torch.tensor([3, 4, 5]))
    b = model.item_alignment_loss(torch.tensor([3, 3, 4, 5, 5, 5]))
    model.eval()
    assert torch.isclose(a, b)


def test_h2rec_learns_and_beats_popularity_on_ml100k(ml100k):
    cfg = {**SMALL, "epochs": 3, "train_batch_size": 512, "learning_rate": 0.002, "progress": False}
    run = train_model("H2Rec", ml100k, cfg, seed=1)
    pop = train_run("MostPop", ml100k, {"progress": False}, seed=1)
    assert run.status == "ok", run.error
    losses = run.fit["losses"]
    assert losses[-1] < losses[0] * 0.95
    assert run.test["test"]["ndcg@10"] > 1.2 * pop.test["test"]["ndcg@10"]
    assert {a["artefact"] for a in run.llm_artefacts} == {"embeddings-minilm", "sids-minilm-L3-K64"}


def test_h2rec_runs_inside_recboles_own_trainer(ml100k):
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    from recsys.models.sequential.h2rec import H2Rec
    from recsys.recbole.bridge import recbole_config
    from recsys.recbole.ids import align_to_recbole

    small = {k: v for k, v in SMALL.items() if not k.startswith("sid_")}
    config = recbole_config(H2Rec, ml100k, {**small, "MAX_ITEM_LIST_LENGTH": 8, "epochs": 1,
                                           "train_batch_size": 4096, "learning_rate": 0.005, "seed": 2})
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    inputs, _ = model_inputs(("item_text_embeddings", "item_sids", "item_cooccurrence"), ml100k,
                             DatasetTensors(ml100k), {"sid_levels": 3, "sid_codes": 64})
    for key, value in align_to_recbole(train.dataset, ml100k, inputs).items():
        config[key] = value
    init_seed(2, True)
    model = H2Rec(config, train.dataset)
    trainer = Trainer(config, model)
    before = trainer.evaluate(test, load_best_model=False, show_progress=False)
    trainer.fit(train, valid, saved=False, show_progress=False)
    after = trainer.evaluate(test, load_best_model=False, show_progress=False)
    assert after["ndcg@10"] > 1.3 * before["ndcg@10"] and after["ndcg@10"] > 0.02  # text-initialised: 0.014 untrained


def test_h2rec_refuses_a_dataset_without_item_text(tmp_path):
    write(tmp_path / "data/nt/seq.txt", "\n".join(f"{u} 1 2 3 4 5" for u in range(1, 30)) + "\n")
    write(tmp_path / "nt.toml", 'name = "nt"\ndescription = "toy"\ntask = "sequential"\n[files.inter]\npath = "nt/seq.txt"\n'
          '[interactions]\nfile = "inter"\nformat = "s3rec_lines"\n[split]\nmethod = "leave_one_out"\n')
    ds = prepare(tmp_path / "nt.toml", tmp_path / "data", progress=False)
    with pytest.raises(MissingModelInput, match="needs item text"):
        train_model("H2Rec", ds, {"epochs": 1, "progress": False})


def test_trimming_trailing_padding_leaves_outputs_unchanged(built):
    """What ``length_buckets`` relies on: left-aligned windows lose nothing when cut to their longest."""
    model, tensors, _, _ = built
    seq, _ = tensors.train.window(np.arange(1, 40), 20)
    keep = torch.randint(3, 12, (len(seq), 1))
    seq = torch.where(torch.arange(20)[None, :] < keep, seq, 0)  # short left-aligned histories
    width = int((seq > 0).sum(1).max())
    full, cut = _outputs(model, seq), _outputs(model, seq[:, :width])
    real = (seq[:, :width] > 0)
    for path in full:
        assert torch.allclose(full[path][:, :width][real], cut[path][real], atol=1e-5), path


def test_length_buckets_group_similar_windows(ml100k):
    from recsys.train.objectives import FullSequence

    class Dummy(torch.nn.Module):
        loss_type = "CE"

    tensors = DatasetTensors(ml100k)
    obj = FullSequence(Dummy(), tensors, 256, 50, length_buckets=True)
    batches = obj._batches(torch.Generator().manual_seed(0))
    spread = [int(obj.window_targets[b].max() - obj.window_targets[b].min()) for b in batches]
    assert np.median(spread) <= 2  # similar lengths inside a batch
    covered = torch.cat(batches).sort().values
    assert torch.equal(covered, torch.arange(len(obj.inputs)))  # every window once per epoch


def test_training_refuses_a_model_whose_needs_were_not_resolved(ml100k):
    """Training never calls the LLM side: a model with needs gets them from above (resolve_inputs)."""
    with pytest.raises(MissingModelInput, match="resolve_inputs"):
        train_run("H2Rec", ml100k, {"epochs": 1, "progress": False})
