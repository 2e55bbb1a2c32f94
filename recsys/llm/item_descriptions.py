"""Descriptions for items without text, written from the items they are interacted with.

An item with no title or category has no text embedding: a text-based model can only place it by its
domain's name or not at all. The collaborative signal still says what it is like: the items its
users also interacted with in training. A generator reads those items' texts and writes a one-line
description of what the item probably is; the description is embedded like any item text and fills
the item's empty row (config key ``describe_items_without_text``; ``recsys llm describe-items``).

The named non-LLM fallback, ``keywords``, writes the distinctive words of the same neighbour texts
(``[non-LLM: keywords]``). Only the training split is read; descriptions are cached like every
generated text, and the artefact records the backend and the share of usable outputs.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys.data import schema as S
from recsys.data.prepare import PreparedDataset
from recsys.io.safe_write import atomic_write
from recsys.llm.artefacts import artefact_dir, write_meta
from recsys.llm.generation import CachedGeneration, usable_share
from recsys.llm.output_checks import short_answer_check
from recsys.llm.templates import ItemTemplate

SYSTEM = "You help a recommender system describe catalogue items. Answer with one short line."
PROMPT = ("An item in a catalogue has no title. The users who interacted with it also interacted with:\n"
          "ITEMS:\n{items}\n\nIn one short line, say what kind of item it probably is (its type, genre or "
          "category). Answer with the description only.")


def co_interacted(ds: PreparedDataset, targets: list[int], with_text: np.ndarray, k: int) -> list[list[int]]:
    """For each target item, the ``k`` items with text nearest to it by item-item cosine over the training
    interactions (co-count / sqrt(popularity); ties by item index), the target itself excluded."""
    train = ds.split(S.TRAIN).select(S.USER_IDX, S.ITEM_IDX).unique()
    n_items = len(with_text)
    m = sp.csr_matrix((np.ones(len(train), dtype=np.float32),
                       (train[S.USER_IDX].to_numpy(), train[S.ITEM_IDX].to_numpy())),
                      shape=(int(train[S.USER_IDX].max()) + 1, n_items))
    counts = (m[:, targets].T @ m).toarray() if targets else np.zeros((0, n_items))
    popularity = np.asarray(m.sum(0)).ravel()
    # item-item cosine: a raw co-count would name the catalogue's most popular items for every target
    counts = counts / np.sqrt(np.maximum(popularity, 1))[None, :]
    out = []
    for row, item in zip(counts, targets):
        row[item] = 0
        row[~with_text] = 0
        top = np.lexsort((np.arange(n_items), -row))[:k]
        out.append([int(i) for i in top if row[i] > 0])
    return out


def build_item_descriptions(ds: PreparedDataset, generator, items: list[int] | None = None, neighbours: int = 15,
                            save: bool = True, progress: bool = True) -> tuple[pl.DataFrame, dict]:
    """(rows ``item_idx, description, neighbours, usable``, meta) for ``items`` (default: every item
    without text that someone interacted with in training). An item nobody trained on gets no row."""
    items_sorted = ds.items.sort(S.ITEM_IDX)
    by_idx = dict(zip(items_sorted[S.ITEM_IDX].to_list(), ItemTemplate.for_dataset(ds).render(items_sorted)))
    n_items = int(ds.items[S.ITEM_IDX].max()) + 1
    with_text = np.zeros(n_items, dtype=bool)
    with_text[[i for i, t in by_idx.items() if t]] = True
    chosen = items is not None
    targets = sorted(set(items) if chosen else (i for i in by_idx if not by_idx[i]))
    if chosen:  # the items asked for are described from their neighbours, never from their own text
        with_text[targets] = False
    near = co_interacted(ds, targets, with_text, neighbours)
    keep = [(t, n) for t, n in zip(targets, near) if n]
    prompts = [PROMPT.format(items="\n".join(f"- {by_idx[i]}" for i in n)) for _, n in keep]
    gen = CachedGeneration(ds, generator, max_tokens=40, seed=0, flush_every=64, progress=progress,
                           system=SYSTEM, namespace="item-descriptions", check=short_answer_check(30))
    outputs = gen.run(prompts, None, "item descriptions") if prompts else []
    frame = pl.DataFrame({S.ITEM_IDX: [t for t, _ in keep], "description": [o.strip() for o in outputs],
                          "neighbours": [len(n) for _, n in keep],
                          "usable": [i not in gen.unusable for i in range(len(keep))]},
                         schema={S.ITEM_IDX: pl.Int64, "description": pl.Utf8, "neighbours": pl.Int64,
                                 "usable": pl.Boolean})
    meta = {"backend": generator.name, "model": generator.model, "is_llm": bool(generator.is_llm),
            **generator.describe(), "items": len(targets), "described": len(keep), "neighbours": neighbours,
            "source_split": "train", "asked_for": chosen, "outputs": gen.quality,
            "usable_share": usable_share(gen.quality)}
    if save and not chosen:
        name = f"item-descriptions-{generator.name}"
        atomic_write(artefact_dir(ds) / f"{name}.parquet", frame.write_parquet)
        write_meta(ds, name, {**meta, "file": f"{name}.parquet"})
    return frame, meta


def fill_described(ds: PreparedDataset, embeddings: np.ndarray, has_text: np.ndarray, generator,
                   encoder) -> tuple[np.ndarray, dict]:
    """``embeddings`` with the rows of items without text (``~has_text``) that got a usable description
    replaced by the description's embedding (the other rows as they were)."""
    from recsys.llm.embed import embed_texts

    frame, meta = build_item_descriptions(ds, generator, progress=False)
    frame = frame.filter(pl.col("usable") & ~pl.col(S.ITEM_IDX).is_in(np.flatnonzero(has_text).tolist()))
    out = np.array(embeddings, dtype=np.float32, copy=True)
    if len(frame):
        out[frame[S.ITEM_IDX].to_numpy()] = embed_texts(encoder, frame["description"].to_list())
    return out, {**meta, "artefact": f"item-descriptions-{generator.name}", "filled": int(len(frame))}


def description_agreement(ds: PreparedDataset, frame: pl.DataFrame, encoder, seed: int = 0) -> dict:
    """How well descriptions written for items that do have text recover that text: mean cosine between
    a description and its item's own text embedding (beside a random item's), and the rank of the own
    item among the whole catalogue by cosine with the description (1 = nearest)."""
    from recsys.llm.embed import embed_items, embed_texts, unit_rows

    catalogue, _ = embed_items(ds, encoder, progress=False)
    unit = unit_rows(np.asarray(catalogue, dtype=np.float32))
    has = np.abs(unit).sum(1) > 0
    desc = unit_rows(embed_texts(encoder, frame["description"].to_list()))
    items = frame[S.ITEM_IDX].to_numpy()
    sims = desc @ unit.T
    sims[:, ~has] = -np.inf
    own = sims[np.arange(len(items)), items]
    ranks = 1 + (sims > own[:, None]).sum(1)
    pool = np.flatnonzero(has)
    rand = np.random.default_rng(seed).choice(pool, size=len(items))
    return {"own": float(own.mean()), "random": float(sims[np.arange(len(items)), rand].mean()),
            "median_rank": float(np.median(ranks)), "top10": float((ranks <= 10).mean()),
            "catalogue": int(len(pool)), "items": int(len(items))}
