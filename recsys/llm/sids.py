"""Semantic IDs: residual quantisation of item embeddings, then a disambiguation code.

faiss's ``ResidualQuantizer`` (``levels`` codebooks of ``codes`` entries) gives each item a
code tuple; items that share a whole tuple get one more level, their rank within the group,
so every item's tuple is unique. Collisions before that step and the relative quantisation
error are reported with the artefact.
"""

from __future__ import annotations

import math

import numpy as np

from recsys.data.prepare import PreparedDataset
from recsys.io.safe_write import atomic_write
from recsys.llm.artefacts import artefact_dir, save_npy, write_meta


def residual_quantize(x: np.ndarray, levels: int = 3, codes: int = 256, beam: int = 1,
                      seed: int = 0) -> tuple[np.ndarray, float]:
    """Codes [n, levels] and the relative squared reconstruction error ||x - x^||^2 / ||x||^2."""
    import faiss

    bits = int(math.log2(codes))
    if 2 ** bits != codes:
        raise ValueError(f"codes must be a power of two, got {codes}")
    if len(x) < codes:
        raise ValueError(f"need at least {codes} items to train {codes} codes per level, got {len(x)}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    rq = faiss.ResidualQuantizer(x.shape[1], levels, bits)
    rq.max_beam_size = beam
    rq.cp.seed = seed
    rq.train(x)
    packed = rq.compute_codes(x)
    codes_out = unpack_codes(packed, levels, bits)
    recon = rq.decode(packed)
    err = float(((x - recon) ** 2).sum() / max((x ** 2).sum(), 1e-12))
    return codes_out, err


def unpack_codes(packed: np.ndarray, levels: int, bits: int) -> np.ndarray:
    """faiss's packed codes (least-significant bit first) as an int matrix [n, levels]."""
    bit_matrix = np.unpackbits(packed, axis=1, bitorder="little")[:, : levels * bits]
    return (bit_matrix.reshape(len(packed), levels, bits).astype(np.int64) << np.arange(bits)).sum(-1)


def disambiguate(codes: np.ndarray) -> tuple[np.ndarray, dict]:
    """Append the rank within each group of identical tuples; returns (unique codes, collision stats)."""
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    rank = np.empty(len(codes), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank[order] = np.arange(len(codes)) - np.repeat(starts, counts)
    stats = {"colliding_items": int(counts[counts > 1].sum()), "collision_groups": int((counts > 1).sum()),
             "largest_group": int(counts.max()) if len(counts) else 0}
    return np.concatenate([codes, rank[:, None]], axis=1), stats


def build_sids(ds: PreparedDataset, embeddings: np.ndarray, meta: dict, levels: int = 3, codes: int = 256,
               beam: int = 1, seed: int = 0) -> tuple[np.ndarray, dict]:
    """SIDs for every item with an embedding; row 0 (padding) and text-less items get -1."""
    has = np.abs(embeddings).sum(1) > 0
    has[0] = False
    raw, err = residual_quantize(embeddings[has], levels, codes, beam, seed)
    unique, stats = disambiguate(raw)
    out = np.full((len(embeddings), levels + 1), -1, dtype=np.int64)
    out[has] = unique
    info = {"backend": meta["backend"], "model": meta["model"], "is_neural": meta.get("is_neural", True),
            "levels": levels, "codes": codes, "beam": beam, "seed": seed, "items": int(has.sum()),
            "relative_quantization_error": err, **stats,
            "coverage": float(has.sum()) / (len(embeddings) - 1)}
    name = f"sids-{meta['backend']}-L{levels}-K{codes}"
    atomic_write(artefact_dir(ds) / f"{name}.npy", lambda p: save_npy(p, out))
    write_meta(ds, name, {**info, "file": f"{name}.npy"})
    return out, info
