"""Descriptions for items without text: written from the items their training users also interacted
with, training split only; they recover what an item is (tested on items whose text we hide), and fill
only the empty rows of the embedding matrix."""

import numpy as np
import polars as pl

from recsys.data import schema as S
from recsys.data.prepare import PreparedDataset
from recsys.llm.generators import KeywordProfileFallback
from recsys.llm.item_descriptions import (build_item_descriptions, co_interacted, description_agreement,
                                          fill_described)
from recsys.llm.templates import ItemTemplate
from tests.leakage import held_out_shuffled


def _fallback(ds):
    return KeywordProfileFallback([t or "" for t in ItemTemplate.for_dataset(ds).render(ds.items)])


def test_neighbours_are_the_nearest_items_by_training_cosine(ml100k):
    train = ml100k.split(S.TRAIN).select(S.USER_IDX, S.ITEM_IDX).unique()
    with_text = np.ones(int(ml100k.items[S.ITEM_IDX].max()) + 1, dtype=bool)
    with_text[0] = False
    target = 50
    users = set(train.filter(pl.col(S.ITEM_IDX) == target)[S.USER_IDX].to_list())
    both = train.filter(pl.col(S.USER_IDX).is_in(list(users))).group_by(S.ITEM_IDX).len()
    pop = dict(train.group_by(S.ITEM_IDX).len().iter_rows())
    score = {i: c / np.sqrt(pop[i]) for i, c in both.iter_rows() if i != target}
    expected = sorted(score, key=lambda i: (-score[i], i))[:5]
    assert co_interacted(ml100k, [target], with_text, 5) == [expected]


def test_descriptions_read_the_training_split_only(ml100k):
    items = [10, 20, 30, 40]
    first, _ = build_item_descriptions(ml100k, _fallback(ml100k), items=items, progress=False)
    other = held_out_shuffled(ml100k)
    second, _ = build_item_descriptions(other, _fallback(other), items=items, progress=False)
    assert first.equals(second)


def test_descriptions_recover_hidden_items_better_than_chance(ml100k):
    """Hide the text of 150 items: the descriptions written from their neighbours are nearer to the
    hidden text than to a random item's, and rank it well above the catalogue's middle."""
    from recsys.llm.encoders import make_encoder

    trained = np.unique(ml100k.split(S.TRAIN)[S.ITEM_IDX].to_numpy())
    items = sorted(np.random.default_rng(1).choice(trained, 150, replace=False).tolist())
    frame, meta = build_item_descriptions(ml100k, _fallback(ml100k), items=items, progress=False)
    assert meta["asked_for"] and not meta["is_llm"] and len(frame) == 150
    assert all(d.startswith("[non-LLM: keywords") for d in frame["description"])
    agree = description_agreement(ml100k, frame, make_encoder("minilm"))
    assert agree["own"] > agree["random"] + 0.02
    assert agree["median_rank"] < 0.4 * agree["catalogue"]


def test_fill_replaces_only_the_rows_of_items_without_text(ml100k):
    from recsys.llm.embed import embed_texts

    hidden = [3, 17, 101]
    other = PreparedDataset(ml100k.path)
    items = ml100k.items
    blank = pl.col(S.ITEM_IDX).is_in(hidden)
    other.__dict__["items"] = items.with_columns(
        [pl.when(blank).then(None).otherwise(pl.col(f)).alias(f) for f in S.TEXT_FIELDS if f in items.columns])
    n = int(items[S.ITEM_IDX].max()) + 1
    emb = np.random.default_rng(0).normal(size=(n, 384)).astype(np.float32)
    emb[[0, *hidden]] = 0
    has_text = np.abs(emb).sum(1) > 0

    from recsys.llm.encoders import make_encoder

    enc = make_encoder("minilm")
    filled, meta = fill_described(other, emb, has_text, _fallback(other), enc)
    assert meta["items"] == 3 and meta["filled"] == 3 and meta["usable_share"] == 1.0
    assert np.array_equal(filled[has_text], emb[has_text]) and not filled[0].any()
    frame, _ = build_item_descriptions(other, _fallback(other), progress=False)
    assert frame[S.ITEM_IDX].to_list() == hidden
    assert np.allclose(filled[hidden], embed_texts(enc, frame["description"].to_list()))
