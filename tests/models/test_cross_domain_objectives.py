"""Issue 26: the cross-domain models compared like with like. Both objectives over the target domain
(BCE with k negatives from it, softmax CE over its items) for LLM4CDSR, LLM-EDT and SASRec
(``target_domain_loss``), trainable item tables initialised from the text embeddings (frozen kept as an
option), and LLM-EDT's phase-2 loss as the official code trains it (the domain term) or summed."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recsys.nn.domain_losses import DomainCandidates, bce_loss
from tests.models.test_cross_domain import build


def _window(tensors, n=48, width=20):
    seq, _ = tensors.train.window(np.arange(1, n + 1), width)
    nxt = torch.roll(seq, -1, 1)
    targets = nxt * (nxt > 0) * (seq > 0)
    return seq, targets


def test_domain_candidates_draw_from_the_target_domain_and_the_softmax_masks_the_other():
    codes = np.array([-1, 0, 0, 1, 1, 1, 0, 1])
    cand = DomainCandidates(codes)
    targets = torch.tensor([1, 3, 6, 7, 2])
    neg = cand.negatives(targets, torch.Generator().manual_seed(0), k=50)
    assert neg.shape == (5, 50)
    assert (torch.from_numpy(codes)[neg] == torch.from_numpy(codes)[targets][:, None]).all()
    h, table = torch.randn(5, 4), torch.randn(8, 4)
    loss = cand.softmax_ce(lambda rows, items: h[rows] @ table[items].T, targets)
    full = h @ table.T
    full[:, 0] = -torch.inf
    full[torch.from_numpy(codes)[None].expand(5, -1) != torch.from_numpy(codes)[targets][:, None]] = -torch.inf
    assert torch.allclose(loss, F.cross_entropy(full, targets), atol=1e-6)
    # k negatives: the positive term plus the sum of the negatives' terms, mean per target
    pos, negs = torch.randn(5), torch.randn(5, 3)
    by_hand = F.softplus(-pos).mean() + F.softplus(negs).sum(1).mean()
    assert torch.allclose(bce_loss(pos, negs), by_hand, atol=1e-6)


@pytest.mark.parametrize("name", ["LLM4CDSR", "LLM-EDT"])
def test_target_domain_softmax_equals_cross_entropy_over_the_models_own_scores(name, cdr, tensors):
    """The CE objective is exactly the softmax over the target domain of the scores prediction uses."""
    model = build(name, cdr, tensors, loss_type="CE", alpha=0.0, beta=0.0) if name == "LLM4CDSR" else \
        build(name, cdr, tensors, loss_type="CE", beta=0.0)
    assert model.loss_family[0] == "softmax-ce-domain"
    seq, targets = _window(tensors)
    with torch.no_grad():
        loss = model.full_sequence_loss(seq, targets)
        # the same through the prediction path: each target position scored against every item
        mask = targets > 0
        if name == "LLM4CDSR":
            hm, hd = model.encode(seq)
            hm, hd = hm[mask], hd[:, mask]
            scores = hm @ model.mixed_items().T + torch.where(model.item_domain[None] == 0, hd[0] @ model.domain_items().T,
                                                              hd[1] @ model.domain_items().T)
        else:
            scores = model.encode_global(seq)[mask] @ model.items().T
        y = targets[mask]
        other = model.item_domain[None] != model.item_domain[y][:, None]
        scores[other] = -torch.inf
        assert torch.allclose(loss, F.cross_entropy(scores, y), atol=1e-4)


@pytest.mark.parametrize("name", ["LLM4CDSR", "LLM-EDT"])
def test_bce_draws_k_negatives_from_the_target_domain(name, cdr, tensors):
    model = build(name, cdr, tensors, bce_negatives=4)
    assert model.loss_family == ("bce-domain", "binary cross-entropy, 4 target-domain negative(s) per position")
    y = torch.from_numpy(np.flatnonzero(model.item_domain.numpy() >= 0)[:200])
    neg = model.candidates.negatives(y, torch.Generator().manual_seed(1), model.k)
    assert neg.shape == (200, 4) and (model.item_domain[neg] == model.item_domain[y][:, None]).all()
    seq, targets = _window(tensors)
    assert torch.isfinite(model.train().full_sequence_loss(seq, targets, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("name", ["LLM4CDSR", "LLM-EDT"])
def test_trainable_tables_start_at_the_text_embeddings_and_move_frozen_ones_do_not(name, cdr, tensors):
    seq, targets = _window(tensors)
    moved = {}
    for mode in ("trainable", "frozen"):
        model = build(name, cdr, tensors, item_table=mode).train()
        tables = ["llm_table"] + (["domain_table"] if name == "LLM4CDSR" else [])
        params = dict(model.named_parameters())
        start = {t: getattr(model, t).detach().clone() for t in tables}
        assert all((t in params) == (mode == "trainable") for t in tables), mode
        assert torch.equal(start["llm_table"], torch.from_numpy(np.asarray(model_text(cdr, tensors, name))))
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        for _ in range(2):
            opt.zero_grad()
            model.full_sequence_loss(seq, targets, torch.Generator().manual_seed(0)).backward()
            opt.step()
        moved[mode] = {t: float((getattr(model, t).detach() - start[t]).abs().max()) for t in tables}
    assert all(v > 0 for v in moved["trainable"].values()), moved
    assert all(v == 0 for v in moved["frozen"].values()), moved


def model_text(cdr, tensors, name):
    from recsys.llm.inputs import model_inputs
    from recsys.models.registry import get_model_spec

    spec = get_model_spec(name)
    inputs, _ = model_inputs(spec.needs, cdr, tensors, {})
    return np.asarray(inputs["item_text_embeddings"], dtype=np.float32)


@pytest.mark.parametrize("domain_loss", ["domain_term", "summed"])
def test_llm_edt_phase_two_trains_the_domain_term_alone_or_the_summed_score(domain_loss, cdr, tensors):
    """The official code's phase-2 loss reads <adapter_d(h_d), E> only: the global thread (here: its
    position embedding, which only the global thread reads) cannot change it; the summed loss depends on it."""
    model = build("LLM-EDT", cdr, tensors, domain_loss=domain_loss, beta=0.0)
    model.set_training_phase("domain")
    with torch.no_grad():
        for adapter in model.domain_adapter:
            adapter.up.weight.normal_(std=0.1)
    seq, targets = _window(tensors)
    with torch.no_grad():
        before = model.full_sequence_loss(seq, targets, torch.Generator().manual_seed(3))
        model.mixed_position.weight.normal_(std=1.0)
        after = model.full_sequence_loss(seq, targets, torch.Generator().manual_seed(3))
    if domain_loss == "domain_term":
        assert torch.allclose(before, after)
    else:
        assert not torch.allclose(before, after)


def test_sasrec_trains_against_the_target_domain_when_asked(cdr, tensors):
    """``target_domain_loss``: SASRec's softmax runs over the target's domain (the LLM models' CE) and
    its BCE negatives come from it; both declared with the run."""
    from recsys.eval.domains import item_domains
    from recsys.train.objectives import FullSequence, loss_family

    from recsys.train.config import recbole_model_config
    from recsys.models.registry import get_model_spec
    from recsys.recbole.dataset_view import TrainDatasetView

    spec = get_model_spec("SASRec")
    cls, config = recbole_model_config(spec, cdr, {"hidden_size": 16, "inner_size": 32, "n_layers": 1, "n_heads": 1,
                                                   "MAX_ITEM_LIST_LENGTH": 20, "loss_type": "CE"}, seed=1)
    model = cls(config, TrainDatasetView(tensors, "SASRec")).eval()
    codes = item_domains(tensors)[1]
    objective = FullSequence(model, tensors, 256, 20, domain_codes=codes)
    seq, targets = _window(tensors)
    with torch.no_grad():
        loss = objective._loss(seq, targets, None)
        from recsys.train.objectives import all_positions

        with all_positions(model):
            h = model.forward(seq, (seq > 0).sum(1))
        y = targets[targets > 0]
        scores = h[targets > 0] @ model.item_embedding.weight.T
        scores[torch.from_numpy(codes)[None] != torch.from_numpy(codes)[y][:, None]] = -torch.inf
        assert torch.allclose(loss, F.cross_entropy(scores, y), atol=1e-4)
    bce = FullSequence(model, tensors, 256, 20, sequence_loss="bce", domain_codes=codes)
    seen = []
    bce._loss = lambda x, y, negs, gen=None: seen.append((y[y > 0], negs[y > 0])) or torch.zeros(())
    for _, (_, _) in zip(range(3), bce.epoch(torch.Generator().manual_seed(0))):
        pass
    ys, negs = torch.cat([s[0] for s in seen]), torch.cat([s[1] for s in seen])
    assert len(ys) > 500 and (codes[negs.numpy()] == codes[ys.numpy()]).all()
    assert loss_family(model, "full_sequence", {"target_domain_loss": True}) == (
        "softmax-ce-domain", "softmax cross-entropy over the target domain's items")
    assert loss_family(model, "full_sequence", {"target_domain_loss": True, "sequence_loss": "bce"})[0] == "bce-domain"



def test_the_interaction_augmenter_keeps_items_without_any_text_from_training_only(cdr, tensors):
    """Food-Kitchen has no item text, so the text fallback keeps nothing there. ``nearest-interactions``
    reads item vectors from training interactions: items had by the same users lie closer than items
    never had together, and it keeps other-domain items that are not in the user's history, from the
    training split alone."""
    import polars as pl

    from recsys.data import schema as S
    from recsys.llm.augment import COLLABORATIVE, augment_training, interaction_vectors
    from recsys.llm.inputs import training_tensors
    from tests.models.test_cross_domain import _variant

    vectors = interaction_vectors(cdr)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    train = cdr.split(S.TRAIN).select(S.USER_IDX, S.ITEM_IDX).unique()
    pairs = train.join(train, on=S.USER_IDX).filter(pl.col(S.ITEM_IDX) < pl.col(f"{S.ITEM_IDX}_right"))
    counts = pairs.group_by(S.ITEM_IDX, f"{S.ITEM_IDX}_right").len().sort("len", descending=True)
    top = counts.head(500)
    together = (unit[top[S.ITEM_IDX].to_numpy()] * unit[top[f"{S.ITEM_IDX}_right"].to_numpy()]).sum(1)
    rng = np.random.default_rng(0)
    a, b = rng.integers(1, len(unit), 5000), rng.integers(1, len(unit), 5000)
    had = set(zip(counts[S.ITEM_IDX].to_list(), counts[f"{S.ITEM_IDX}_right"].to_list()))
    never = np.array([(x, y) not in had and (y, x) not in had and x != y for x, y in zip(a, b)])
    apart = (unit[a[never]] * unit[b[never]]).sum(1)
    assert together.mean() > apart.mean() + 0.3, (together.mean(), apart.mean())

    rows, meta = augment_training(cdr, vectors, save=False, progress=False, fallback=COLLABORATIVE)
    assert meta["backend"] == COLLABORATIVE and meta["item_vectors"] == "interactions" and meta["kept"] > 0
    grouped = train.group_by(S.USER_IDX).agg(S.ITEM_IDX)
    history = {u: set(items) for u, items in zip(grouped[S.USER_IDX].to_list(), grouped[S.ITEM_IDX].to_list())}
    assert all(i not in history[u] for u, i in zip(rows[S.USER_IDX].to_list(), rows[S.ITEM_IDX].to_list()))
    other, _ = augment_training(_variant(cdr), interaction_vectors(_variant(cdr)), save=False, progress=False,
                                fallback=COLLABORATIVE)
    assert other.equals(rows)  # validation/test targets changed, nothing else did
    _, metas = training_tensors(("training_augmentation",), cdr, tensors, {"augment_generator": COLLABORATIVE}, None)
    assert metas[0]["artefact"] == f"augment-{COLLABORATIVE}" and metas[0]["kept"] == len(rows)
