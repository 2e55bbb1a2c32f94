"""LLM4CDSR and LLM-EDT on a real attribute-split cross-domain pair (ml-latest-small by genre group):
the same item in both thread terms, causal masks in every thread, augmented items kept out of
evaluation, profiles from training interactions only, phase-2 freezing, learning against the
per-domain popularity ranking, and both models inside RecBole's own Trainer."""

import numpy as np
import polars as pl
import pytest
import torch

from recsys.bench.run_types import train_model
from recsys.data import schema as S
from recsys.data.prepare import PreparedDataset
from recsys.data.tensors import with_training_items
from recsys.llm.inputs import model_inputs
from recsys.models.registry import get_model_spec
from recsys.recbole.dataset_view import TrainDatasetView
from recsys.train.config import recbole_model_config
from recsys.train.run import train_run

SMALL = {"hidden_size": 32, "inner_size": 64, "n_layers": 1, "n_heads": 1, "MAX_ITEM_LIST_LENGTH": 20,
         "hidden_dropout_prob": 0.2, "attn_dropout_prob": 0.2}


def build(name, cdr, tensors, **extra):
    spec = get_model_spec(name)
    cls, config = recbole_model_config(spec, cdr, {**SMALL, **extra}, seed=1)
    inputs, _ = model_inputs(spec.needs, cdr, tensors, {**getattr(cls, "INPUT_DEFAULTS", {}), **SMALL})
    for key, value in inputs.items():
        config[key] = value
    torch.manual_seed(0)
    return cls(config, TrainDatasetView(tensors, name)).eval()


def _batch(model, tensors, n=6):
    from recbole.data.interaction import Interaction

    users = np.arange(1, n + 1)
    seq, length = tensors.history("test").window(users, 20)
    return Interaction({model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: length, model.USER_ID: torch.from_numpy(users)})


@pytest.mark.parametrize("name", ["LLM4CDSR", "LLM-EDT"])
def test_the_same_item_is_scored_in_both_thread_terms(name, cdr, tensors):
    model = build(name, cdr, tensors)
    if name == "LLM-EDT":
        model.set_training_phase("domain")
        with torch.no_grad():  # a trained-looking adapter, so the domain term is not the identity's
            for adapter in model.domain_adapter:
                adapter.up.weight.normal_(std=0.1)
    batch = _batch(model, tensors)
    with torch.no_grad():
        full = model.full_sort_predict(batch)
        first, second = model.thread_scores(batch)
        seq, length = batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN]
        if name == "LLM4CDSR":
            hm, hd = model.last_states(seq, length)
            mixed_table, domain_table = model.mixed_items(), model.domain_items()
        else:
            hm, hd = model.last_states(seq, length)
            mixed_table = domain_table = model.items()
    assert torch.allclose(full, first + second)
    codes = model.item_domain
    for j in [int(np.flatnonzero(codes.numpy() == 0)[3]), int(np.flatnonzero(codes.numpy() == 1)[5])]:
        d = int(codes[j])
        by_hand = hm @ mixed_table[j] + hd[d] @ domain_table[j]
        assert torch.allclose(full[:, j], by_hand, atol=1e-5), f"item {j}: both terms must read item {j}"
        other = hm @ mixed_table[j] + hd[d] @ domain_table[j + 1]  # a mixed pair, as in the official evaluation
        assert not torch.allclose(full[:, j], other, atol=1e-5)
        batch_j = _batch(model, tensors)
        batch_j.update(type(batch)({model.ITEM_ID: torch.full((6,), j)}))
        with torch.no_grad():
            assert torch.allclose(model.predict(batch_j), full[:, j], atol=1e-5)


def _states(model, seq):
    with torch.no_grad():
        if hasattr(model, "encode"):
            mixed, domains = model.encode(seq)
            return {"mixed": mixed, "domain 0": domains[0], "domain 1": domains[1]}
        domains = model.encode_domains(seq)
        return {"mixed": model.encode_global(seq), "domain 0": domains[0], "domain 1": domains[1]}


@pytest.mark.parametrize("name", ["LLM4CDSR", "LLM-EDT"])
def test_no_thread_sees_the_future_and_the_official_switch_does(name, cdr, tensors):
    model = build(name, cdr, tensors)
    seq, _ = tensors.history("test").window(np.arange(1, 9), 20)
    t = 10
    changed = seq.clone()
    codes = model.item_domain
    for row in range(len(seq)):  # replace every later item by an item of the *same* domain
        for col in range(t + 1, 20):
            if changed[row, col] > 0:
                same = torch.nonzero(codes == codes[changed[row, col]])[:, 0]
                changed[row, col] = same[(int(changed[row, col]) * 7 + col) % len(same)]
    assert not torch.equal(seq, changed)
    before, after = _states(model, seq), _states(model, changed)
    for thread in before:
        assert torch.allclose(before[thread][:, : t + 1], after[thread][:, : t + 1], atol=1e-6), thread
        assert not torch.allclose(before[thread][:, t + 1:], after[thread][:, t + 1:], atol=1e-6), thread
    leaky = build(name, cdr, tensors, causal=False)  # the official code's behaviour
    before, after = _states(leaky, seq), _states(leaky, changed)
    for thread in before:
        assert not torch.allclose(before[thread][:, : t + 1], after[thread][:, : t + 1], atol=1e-6), thread


def _variant(ds: PreparedDataset, seed: int = 0) -> PreparedDataset:
    """The same dataset with other items as validation and test targets (training rows unchanged)."""
    v = PreparedDataset(ds.path)
    inter = ds.interactions
    held = inter[S.SPLIT] != S.TRAIN
    rng = np.random.default_rng(seed)
    items = inter[S.ITEM_IDX].to_numpy().copy()
    items[held.to_numpy()] = rng.permutation(items[held.to_numpy()])
    v.__dict__["interactions"] = inter.with_columns(pl.Series(S.ITEM_IDX, items))
    assert not v.split(S.TEST)[S.ITEM_IDX].equals(ds.split(S.TEST)[S.ITEM_IDX])
    return v


def test_augmented_items_never_become_validation_or_test_targets(cdr, tensors):
    from recsys.eval.domains import item_domains
    from recsys.llm.augment import augment_training
    from recsys.llm.inputs import cross_domain_embeddings

    _, codes = item_domains(tensors)
    emb, _, has_text = cross_domain_embeddings(cdr, "minilm", codes)
    real = emb * has_text[:, None]
    rows, meta = augment_training(cdr, real, save=False, progress=False)
    assert meta["dominated_users"] > 0 and len(rows) > 0 and meta["backend"] == "nearest-text" and not meta["is_llm"]
    aug = with_training_items(tensors, rows)
    assert aug.added == len(rows)
    assert int(aug.train.lengths.sum()) == int(tensors.train.lengths.sum()) + len(rows)
    for phase in ("valid", "test"):
        u0, t0 = tensors.targets(phase)
        u1, t1 = aug.targets(phase)
        assert np.array_equal(u0, u1) and torch.equal(t0, t1)
        h0, h1 = tensors.history(phase), aug.history(phase)
        assert np.array_equal(h0.indptr, h1.indptr) and np.array_equal(h0.items, h1.items)
    # each inserted item sits right after its anchor; the real items keep their order
    first = rows.row(0, named=True)
    user = first[S.USER_IDX]
    real_seq, new_seq = tensors.train[user], aug.train[user]
    mine = rows.filter(pl.col(S.USER_IDX) == user)
    assert sorted(new_seq.tolist()) == sorted(real_seq.tolist() + mine[S.ITEM_IDX].to_list())
    keep = np.ones(len(new_seq), dtype=bool)
    for item in mine[S.ITEM_IDX].to_list():
        keep[np.flatnonzero(new_seq == item)[-1]] = False
    assert np.array_equal(new_seq[keep], real_seq)
    # built from training interactions only: other validation/test targets change nothing
    other, _ = augment_training(_variant(cdr), real, save=False, progress=False)
    assert other.equals(rows)
    # and the pipeline's tensors for LLM-EDT evaluate on real data
    from recsys.llm.inputs import training_tensors

    run_tensors, metas = training_tensors(("training_augmentation",), cdr, tensors, {}, real)
    assert metas[0]["kept"] == len(rows) and run_tensors.history("valid") is tensors.train


class Recording:
    """A generator that records its calls (deterministic output from the prompt)."""

    name, model, is_llm = "recording-test", "echo", False

    def __init__(self):
        self.calls = 0
        self.concurrency = 1

    def generate(self, prompt, **kw):
        self.calls += 1
        return f"profile {hash(prompt) % 997}"

    def describe(self):
        return {"backend": self.name, "model": self.model, "is_llm": self.is_llm}


@pytest.mark.parametrize("kind", ["domain", "hierarchical"])
def test_profiles_use_training_interactions_only(kind, cdr, tensors):
    from recsys.eval.domains import item_domains
    from recsys.llm.inputs import cross_domain_embeddings
    from recsys.llm.profiles import build_profiles

    _, codes = item_domains(tensors)
    emb, _, has_text = cross_domain_embeddings(cdr, "minilm", codes)
    g1 = Recording()
    first, _ = build_profiles(cdr, g1, kind=kind, embeddings=emb * has_text[:, None], limit=40, progress=False)
    assert g1.calls > 0
    g2 = Recording()  # same name: same cache; any prompt that differs would be generated again
    second, meta = build_profiles(_variant(cdr, 1), g2, kind=kind, embeddings=emb * has_text[:, None], limit=40,
                                  progress=False)
    assert g2.calls == 0 and first["profile"].equals(second["profile"]) and meta["source_split"] == "train"


def test_phase_two_trains_only_the_domain_modules_and_its_positions_learn(cdr, tensors):
    model = build("LLM-EDT", cdr, tensors).train()
    model.set_training_phase("domain")
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    assert any(n.startswith("backbone.") for n in frozen) and any(n.startswith("adapter.") for n in frozen)
    trainable = [p for p in model.parameters() if p.requires_grad]
    before = model.domain_position[0].weight.detach().clone()
    opt = torch.optim.Adam(trainable, lr=1e-2)
    seq, _ = tensors.train.window(np.arange(1, 65), 20)
    targets = torch.roll(seq, -1, 1) * (torch.roll(seq, -1, 1) > 0) * (seq > 0)
    for _ in range(2):
        opt.zero_grad()
        model.full_sequence_loss(seq, targets, users=torch.arange(1, 65)).backward()
        opt.step()
    for n, p in model.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), f"{n} changed in phase 2"
    assert not torch.equal(model.domain_position[0].weight, before), "phase 2's position embeddings must train"
    assert model.phase == "domain" and int(model.state_dict()["phase_code"]) == 1


@pytest.mark.parametrize("name", ["LLM4CDSR", "LLM-EDT"])
def test_learns_and_beats_the_per_domain_popularity_ranking(name, cdr):
    cfg = {**SMALL, "epochs": 4, "length_buckets": True, "progress": False, "learning_rate": 2e-3,
           **({"domain_epochs": 2} if name == "LLM-EDT" else {})}
    run = train_model(name, cdr, cfg, seed=1)
    pop = train_run("MostPop", cdr, {"progress": False}, seed=1)
    assert run.status == "ok", run.error
    losses = run.fit["losses"]
    assert losses[3] < losses[0]  # phase 1 (LLM-EDT's phase 2 has its own loss)
    t, p = run.test["test"].summary, pop.test["test"].summary
    for dom in ("heart", "thrill"):
        assert t[f"ndcg@10|domain:{dom}"] > p[f"ndcg@10|domain:{dom}"], dom
    backends = {a["artefact"] for a in run.llm_artefacts}
    assert "embeddings-minilm" in backends and any(b.startswith("profiles-") for b in backends)
    if name == "LLM-EDT":
        assert "augment-nearest-text" in backends and run.fit["epochs_run"] == 6


@pytest.mark.parametrize("name", ["LLM4CDSR", "LLM-EDT", "C2DSR"])
def test_runs_inside_recboles_own_trainer(name, cdr, tensors):
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    from recsys.recbole.bridge import recbole_config
    from recsys.recbole.ids import align_to_recbole

    spec = get_model_spec(name)
    cls = spec.load()
    config = recbole_config(cls, cdr, {**SMALL, "MAX_ITEM_LIST_LENGTH": 8, "epochs": 3, "train_batch_size": 1024,
                                       "learning_rate": 0.005, "seed": 2})
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    inputs, _ = model_inputs(spec.needs, cdr, tensors, dict(getattr(cls, "INPUT_DEFAULTS", {})))
    for key, value in align_to_recbole(train.dataset, cdr, inputs).items():
        config[key] = value
    init_seed(2, True)
    model = cls(config, train.dataset)
    trainer = Trainer(config, model)
    before = trainer.evaluate(test, load_best_model=False, show_progress=False)
    trainer.fit(train, valid, saved=False, show_progress=False)
    if name == "LLM-EDT":  # the second phase, as RecBole would run it: a second fit with the phase switched
        model.set_training_phase("domain")
        trainer = Trainer(config, model)
        trainer.fit(train, valid, saved=False, show_progress=False)
    after = trainer.evaluate(test, load_best_model=False, show_progress=False)
    assert after["ndcg@10"] > 1.3 * before["ndcg@10"], (before, after)
