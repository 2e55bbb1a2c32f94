"""C2DSR (issue 26's cross-domain baseline) on a real attribute-split pair (ml-latest-small by genre group):
its item graphs are the training transitions, prediction reads the target domain's thread, no thread sees
the future, the infomax discriminator learns to tell real from corrupted sequences, its CE is the softmax of
the prediction scores over the target domain, and it learns (beating per-domain popularity)."""

import math

import numpy as np
import torch
import torch.nn.functional as F

from recsys.bench.run_types import train_model
from recsys.models.cross_domain.c2dsr import transition_graphs
from recsys.train.run import train_run
from tests.models.test_cross_domain import SMALL, _variant, build
from tests.models.test_cross_domain_objectives import _window


def test_item_graphs_are_the_training_transitions(cdr, tensors):
    from recsys.data.tensors import DatasetTensors

    model = build("C2DSR", cdr, tensors)
    codes = model.item_domain.numpy()
    cross, single = transition_graphs(tensors.train.last(int(tensors.train.lengths.max()))[0], codes, model.n_items)
    assert np.allclose(model.graphs[0].to_dense().numpy(), cross.toarray())
    sums = np.asarray(cross.sum(1)).ravel()
    assert np.allclose(sums[sums > 0], 1.0)  # transition probabilities
    user_seq = tensors.train[5]
    a, b = int(user_seq[3]), int(user_seq[4])
    assert cross[a, b] > 0
    rows, cols = single.nonzero()
    assert len(rows) > 0 and (codes[rows] == codes[cols]).all()  # within a domain only
    x_rows, x_cols = cross.nonzero()
    assert (codes[x_rows] != codes[x_cols]).any()  # the cross graph links the domains
    # built from training interactions only: other validation / test targets change nothing
    other = build("C2DSR", _variant(cdr), DatasetTensors(_variant(cdr)))
    assert torch.equal(other.graphs[0].to_dense(), model.graphs[0].to_dense())


def test_prediction_reads_each_items_own_domain_thread(cdr, tensors):
    from tests.models.test_cross_domain import _batch

    model = build("C2DSR", cdr, tensors)
    batch = _batch(model, tensors)
    with torch.no_grad():
        full = model.full_sort_predict(batch)
        hm, hd = model.last_states(batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN])
        w, b = model.output.weight, model.output.bias
        codes = model.item_domain.numpy()
        for j in [int(np.flatnonzero(codes == 0)[4]), int(np.flatnonzero(codes == 1)[7])]:
            d = int(codes[j])
            assert torch.allclose(full[:, j], (hm + hd[d]) @ w[j] + b[j], atol=1e-5)
            assert not torch.allclose(full[:, j], (hm + hd[1 - d]) @ w[j] + b[j], atol=1e-5)
        from recbole.data.interaction import Interaction

        items = torch.full((len(hm),), j)
        one = Interaction({**{k: batch[k] for k in batch.interaction}, model.ITEM_ID: items})
        assert torch.allclose(model.predict(one), full[:, j], atol=1e-5)


def test_no_thread_sees_the_future(cdr, tensors):
    model = build("C2DSR", cdr, tensors)
    seq, _ = tensors.history("test").window(np.arange(1, 9), 20)
    t, codes = 10, model.item_domain
    changed = seq.clone()
    for row in range(len(seq)):
        for col in range(t + 1, 20):
            if changed[row, col] > 0:
                same = torch.nonzero(codes == codes[changed[row, col]])[:, 0]
                changed[row, col] = same[(int(changed[row, col]) * 7 + col) % len(same)]
    with torch.no_grad():
        cross, single = model.tables()
        before, after = model.encode(seq, cross, single), model.encode(changed, cross, single)
    for x, y in ((before[0], after[0]), (before[1][0], after[1][0]), (before[1][1], after[1][1])):
        assert torch.allclose(x[:, : t + 1], y[:, : t + 1], atol=1e-6)
        assert not torch.allclose(x[:, t + 1:], y[:, t + 1:], atol=1e-6)


def test_the_softmax_is_over_the_target_domain_of_the_shared_and_specific_scores(cdr, tensors):
    model = build("C2DSR", cdr, tensors, task_weight=1.0)
    seq, targets = _window(tensors)
    with torch.no_grad():
        loss = model.full_sequence_loss(seq, targets)
        cross, single = model.tables()
        hm, hd = model.encode(seq, cross, single)
        mask = targets > 0
        y = targets[mask]
        dy = model.item_domain[y]
        hm, hd = hm[mask], torch.where(dy[:, None] == 0, hd[0][mask], hd[1][mask])
        other = model.item_domain[None] != dy[:, None]
        by_hand = 0.0
        for h in (hm, hm + hd):
            scores = model.output(h)
            scores[other] = -torch.inf
            by_hand = by_hand + F.cross_entropy(scores, y)
    assert torch.allclose(loss, by_hand, atol=1e-4)


def test_the_infomax_discriminator_learns_real_from_corrupted(cdr, tensors):
    """Corruption replaces only domain-d items, by items of domain d; trained on the infomax term alone the
    discriminators score the real pairs above the corrupted ones and the loss falls below chance (4 ln 2)."""
    torch.manual_seed(0)
    model = build("C2DSR", cdr, tensors, task_weight=0.0, hidden_dropout_prob=0.0, attn_dropout_prob=0.0).train()
    seq, targets = _window(tensors, n=96)
    codes = model.item_domain
    corrupt = model.corrupted(seq, 0, torch.Generator().manual_seed(0))
    moved = corrupt != seq
    assert moved.any() and (codes[seq[moved]] == 0).all() and (codes[corrupt[moved]] == 0).all()
    assert torch.equal(corrupt[codes[seq] == 1], seq[codes[seq] == 1]) and torch.equal(corrupt[seq == 0], seq[seq == 0])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(1)
    first = None
    for _ in range(40):
        opt.zero_grad()
        loss = model.full_sequence_loss(seq, targets, gen)
        first = float(loss.detach()) if first is None else first
        loss.backward()
        opt.step()
    assert abs(first - 4 * math.log(2)) < 0.5  # starts near chance
    assert float(loss.detach()) < 0.8 * 4 * math.log(2), (first, float(loss.detach()))
    with torch.no_grad():
        cross, single = model.tables()
        h_mixed, h_dom = model.encode(seq, cross, single)
        from recsys.models.cross_domain.c2dsr import _masked_mean
        from recsys.models.cross_domain.threads import domain_mask

        own, other = domain_mask(seq, codes, 0), domain_mask(seq, codes, 1)
        keep = own.any(1) & other.any(1)
        r = _masked_mean(h_dom[0], own)[keep]
        real = model.discriminators[0](r, _masked_mean(h_mixed, other)[keep])
        fake_states = model.encode_mixed(model.corrupted(seq, 0, torch.Generator().manual_seed(9)), cross)
        fake = model.discriminators[0](r, _masked_mean(fake_states, other)[keep])
    assert float(real.mean()) > float(fake.mean()) + 0.5, (float(real.mean()), float(fake.mean()))


def test_learns_and_beats_the_per_domain_popularity_ranking(cdr):
    cfg = {**SMALL, "epochs": 3, "length_buckets": True, "progress": False, "learning_rate": 3e-3}
    run = train_model("C2DSR", cdr, cfg, seed=1)
    pop = train_run("MostPop", cdr, {"progress": False}, seed=1)
    assert run.status == "ok", run.error
    assert run.fit["losses"][2] < run.fit["losses"][0]
    assert run.loss_family == "softmax-ce-domain"
    t, p = run.test["test"].summary, pop.test["test"].summary
    for dom in ("heart", "thrill"):
        assert t[f"ndcg@10|domain:{dom}"] > p[f"ndcg@10|domain:{dom}"], dom
