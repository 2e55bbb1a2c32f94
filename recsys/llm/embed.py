"""Item embeddings: templated item text -> encoder, through the vector cache, aligned with item_idx."""

from __future__ import annotations

import logging

import numpy as np

from recsys.data.prepare import PreparedDataset
from recsys.io.safe_write import atomic_write
from recsys.llm.artefacts import artefact_dir, save_npy, write_meta
from recsys.llm.cache import VectorCache, cache_key
from recsys.llm.encoders import TextEncoder
from recsys.llm.templates import ItemTemplate

log = logging.getLogger(__name__)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows, e.g. items without text, stay zero)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def embed_texts(encoder: TextEncoder, texts: list[str], batch: int = 256) -> np.ndarray:
    """Free texts (profiles, generated descriptions) -> [n, d] float32, through the vector cache."""
    cache = VectorCache(f"{encoder.name}-{encoder.weights[:16]}")
    keys = [cache_key(backend=encoder.name, model=encoder.model, weights=encoder.weights, text=t) for t in texts]
    todo = sorted({k: i for i, k in enumerate(keys) if k not in cache}.values())
    for start in range(0, len(todo), batch):
        chunk = todo[start: start + batch]
        cache.put([keys[i] for i in chunk], np.asarray(encoder.encode([texts[i] for i in chunk]), dtype=np.float32))
    return cache.get_many(keys) if keys else np.zeros((0, 0), dtype=np.float32)


def embed_items(ds: PreparedDataset, encoder: TextEncoder, template: ItemTemplate | None = None,
                limit: int | None = None, batch: int = 256, progress: bool = True) -> tuple[np.ndarray, dict]:
    """Embed every item with text; returns ([n_items + 1, d] float32, meta). Row 0 and text-less items are 0."""
    template = template or ItemTemplate.for_dataset(ds)
    items = ds.items.sort("item_idx")
    if limit is not None:
        items = items.head(limit)
    texts = template.render(items)
    cache = VectorCache(f"{encoder.name}-{encoder.weights[:16]}")
    keys = [cache_key(backend=encoder.name, model=encoder.model, weights=encoder.weights, text=t)
            if t is not None else None for t in texts]
    todo, queued = [], set()
    for i, k in enumerate(keys):  # identical texts are encoded once
        if k is not None and k not in cache and k not in queued:
            queued.add(k)
            todo.append(i)
    bar = None
    if progress and todo:
        from recsys.io.progress import progress_bar

        bar = progress_bar(len(todo), f"embed {ds.name} ({encoder.name})", "item")
    for start in range(0, len(todo), batch):  # one shard per batch: a crash loses at most one batch
        chunk = todo[start: start + batch]
        vecs = encoder.encode([texts[i] for i in chunk])
        cache.put([keys[i] for i in chunk], vecs)
        if bar:
            bar.update(len(chunk))
    if bar:
        bar.close()
    have = [i for i, k in enumerate(keys) if k is not None]
    if not have:
        raise ValueError(f"{ds.name}: no item has text in fields {template.fields}; nothing to embed")
    vectors = cache.get_many([keys[i] for i in have])
    n_items = int(ds.items["item_idx"].max())
    out = np.zeros((n_items + 1, vectors.shape[1]), dtype=np.float32)
    idx = items["item_idx"].to_numpy()[have]
    out[idx] = vectors
    meta = {**encoder.describe(), "dim": int(vectors.shape[1]), "items": len(items), "embedded": len(have),
            "coverage": len(have) / n_items, "encoded_now": len(todo), "template": template.describe(),
            "limit": limit}
    if limit is None:
        name = f"embeddings-{encoder.name}"
        atomic_write(artefact_dir(ds) / f"{name}.npy", lambda p: save_npy(p, out))
        write_meta(ds, name, {**meta, "file": f"{name}.npy"})
    return out, meta


def pca(x: np.ndarray, dim: int) -> np.ndarray:
    """Project rows onto the top ``dim`` principal components (row 0, padding, stays 0)."""
    body = x[1:]
    mean = body.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(body - mean, full_matrices=False)
    out = np.zeros((x.shape[0], dim), dtype=np.float32)
    out[1:] = (body - mean) @ vt[:dim].T
    return out
