"""Hard negatives for HNLMRec: outside the user's training items, nearest to the positive by text
(fallback), from the training split only, and through a real OpenAI-compatible backend on
loopback (descriptions embedded, mapped to catalogue items, cached: a re-run makes no call)."""

import numpy as np
import polars as pl
import pytest

from recsys.data import schema as S
from recsys.llm.hard_negatives import build_hard_negatives
from recsys.llm.inputs import text_embeddings
from tests.leakage import held_out_shuffled


@pytest.fixture(scope="module")
def emb(ml100k):
    vectors, _ = text_embeddings(ml100k, "minilm")
    return vectors


def _histories(ds):
    train = ds.split(S.TRAIN).group_by(S.USER_IDX).agg(pl.col(S.ITEM_IDX))
    return {u: set(items) for u, items in zip(train[S.USER_IDX].to_list(), train[S.ITEM_IDX].to_list())}


def test_fallback_picks_the_nearest_item_outside_the_history(ml100k, emb):
    frame, vectors, meta = build_hard_negatives(ml100k, emb, save=False, progress=False)
    assert meta["backend"] == "nearest-text" and not meta["is_llm"]
    hist = _histories(ml100k)
    assert len(frame) == sum(len(h) for h in hist.values())  # one row per distinct training pair
    assert meta["with_negative"] > 0.99 * len(frame)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True).clip(min=1e-12)
    for row in frame.sample(200, seed=0).iter_rows(named=True):
        neg = row["negative_item"]
        if neg == 0:
            continue
        assert neg not in hist[row[S.USER_IDX]] and neg != row[S.ITEM_IDX]
        sims = unit[1:] @ unit[row[S.ITEM_IDX]]
        allowed = [i for i in range(1, len(emb)) if i not in hist[row[S.USER_IDX]] and i != row[S.ITEM_IDX]]
        best = max(allowed, key=lambda i: sims[i - 1])
        assert sims[neg - 1] == pytest.approx(sims[best - 1], abs=1e-6)
    assert np.allclose(vectors[5].astype(np.float32), emb[frame["negative_item"][5]], atol=1e-2)


def test_pairs_per_user_keeps_each_users_most_recent_distinct_items(ml100k, emb):
    from recsys.data.tensors import ordered
    from recsys.llm.hard_negatives import artefact_name

    full, _, _ = build_hard_negatives(ml100k, emb, save=False, progress=False)
    capped, vectors, meta = build_hard_negatives(ml100k, emb, save=False, progress=False, per_user=3)
    train = ordered(ml100k.split(S.TRAIN)).group_by(S.USER_IDX, maintain_order=True).agg(pl.col(S.ITEM_IDX))
    expected = set()
    for user, seq in zip(train[S.USER_IDX].to_list(), train[S.ITEM_IDX].to_list()):
        recent = list(dict.fromkeys(reversed(seq)))[:3]
        expected |= {(user, i) for i in recent}
    assert set(zip(capped[S.USER_IDX].to_list(), capped[S.ITEM_IDX].to_list())) == expected
    assert len(capped) == len(expected) < len(full) // 10 and meta["pairs_per_user"] == 3
    # the capped pairs get the same negatives as in the full pass (the cap picks pairs, nothing else)
    joined = capped.join(full, on=[S.USER_IDX, S.ITEM_IDX], suffix="_full")
    assert (joined["negative_item"] == joined["negative_item_full"]).all()
    assert artefact_name("nearest-text", 3) != artefact_name("nearest-text") == "hard-negatives-nearest-text"


def test_built_from_training_interactions_only(ml100k, emb):
    first, vectors, _ = build_hard_negatives(ml100k, emb, save=False, progress=False)
    other = held_out_shuffled(ml100k)
    second, vectors2, _ = build_hard_negatives(other, emb, save=False, progress=False)
    assert first.equals(second) and np.array_equal(vectors, vectors2)


def test_llm_backend_on_loopback_is_embedded_mapped_and_cached(ml100k, emb, llm_server):
    from recsys.llm.encoders import make_encoder
    from recsys.llm.backends import make_generator

    gen = make_generator("openai", base_url=llm_server.url, model="fake-llm", api_key_env="RECSYS_TEST_KEY")
    enc = make_encoder("minilm")
    frame, vectors, meta = build_hard_negatives(ml100k, emb, gen, enc, limit=12, progress=False)
    assert meta["is_llm"] and meta["backend"] == gen.name and len(frame) == 12
    assert llm_server.requests == 12
    hist = _histories(ml100k)
    for row in frame.iter_rows(named=True):
        assert row["negative_item"] > 0 and row["negative_item"] not in hist[row[S.USER_IDX]]
    # the vectors are the descriptions' embeddings ("Likes ..."), not catalogue items' embeddings
    assert not np.allclose(vectors[0].astype(np.float32), emb[frame["negative_item"][0]], atol=1e-2)
    again, vectors2, _ = build_hard_negatives(ml100k, emb, gen, enc, limit=12, progress=False)
    assert llm_server.requests == 12 and again.equals(frame) and np.array_equal(vectors, vectors2)
    with pytest.raises(ValueError, match="encoder"):
        build_hard_negatives(ml100k, emb, gen, None, limit=2)
