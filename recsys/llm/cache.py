"""Content-addressed cache for LLM-side outputs: texts in parquet shards, vectors in .npy shards.

Keys are sha256 of (backend, model, weights hash, input text, parameters). Shards are
append-only and written to a temporary name, then renamed: a crash loses at most the shard
being written. A shard that cannot be read is reported by name, never silently skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import polars as pl

from recsys.errors import DataError
from recsys.io.paths import cache_dir, folder_name, inside


def cache_key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _shard_name() -> str:
    """Names sort in creation order (nanosecond clock first), so later shards win on reload as in memory."""
    return f"shard-{time.time_ns():020d}-{os.getpid()}"


class TextCache:
    """Generated texts (profiles, augmentations) under ``<cache>/llm/text/<namespace>/``."""

    COLUMNS = ("key", "backend", "model", "is_llm", "params", "prompt_hash", "prompt", "output", "latency",
               "created", "finish")

    def __init__(self, namespace: str, root: Path | None = None):
        self.dir = inside((root or cache_dir() / "llm") / "text", folder_name(namespace))
        self.dir.mkdir(parents=True, exist_ok=True)
        self._rows: dict[str, dict] = {}
        for shard in sorted(self.dir.glob("shard-*.parquet")):
            try:
                frame = pl.read_parquet(shard, glob=False)
            except Exception as exc:  # noqa: BLE001  (any parquet failure means a damaged shard)
                raise DataError(f"damaged cache shard ({type(exc).__name__}); delete it and re-run the step "
                                "(only its entries will be recomputed)", path=shard) from exc
            for row in frame.iter_rows(named=True):
                self._rows[row["key"]] = row

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: str) -> dict | None:
        return self._rows.get(key)

    def put(self, rows: list[dict]) -> Path | None:
        rows = [r for r in rows if r["key"] not in self._rows]
        if not rows:
            return None
        frame = pl.DataFrame([{c: r.get(c) for c in self.COLUMNS} for r in rows],
                             schema={"key": pl.String, "backend": pl.String, "model": pl.String,
                                     "is_llm": pl.Boolean, "params": pl.String, "prompt_hash": pl.String,
                                     "prompt": pl.String, "output": pl.String, "latency": pl.Float64,
                                     "created": pl.String, "finish": pl.String})
        path = self.dir / f"{_shard_name()}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        frame.write_parquet(tmp)
        os.replace(tmp, path)
        for r in rows:
            self._rows[r["key"]] = r
        return path


class VectorCache:
    """Embeddings under ``<cache>/llm/vectors/<namespace>/``: ``X.npy`` + ``X.keys.parquet`` per shard.

    The keys file is renamed into place last, so it marks a complete shard.
    """

    def __init__(self, namespace: str, root: Path | None = None):
        self.dir = inside((root or cache_dir() / "llm") / "vectors", folder_name(namespace))
        self.dir.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, tuple[int, int]] = {}
        self._arrays: list[np.ndarray] = []
        for keys_file in sorted(self.dir.glob("shard-*.keys.parquet")):
            npy = keys_file.with_name(keys_file.name.replace(".keys.parquet", ".npy"))
            try:
                keys = pl.read_parquet(keys_file, glob=False)["key"].to_list()
                arr = np.load(npy, mmap_mode="r", allow_pickle=False)
            except Exception as exc:  # noqa: BLE001
                raise DataError(f"damaged vector shard ({type(exc).__name__}); delete it and its .npy and "
                                "re-run the step", path=keys_file) from exc
            if arr.shape[0] != len(keys):
                raise DataError(f"vector shard has {arr.shape[0]} rows for {len(keys)} keys; delete it", path=npy)
            shard = len(self._arrays)
            self._arrays.append(arr)
            for row, key in enumerate(keys):
                self._index[key] = (shard, row)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

    def get_many(self, keys: list[str]) -> np.ndarray:
        return np.stack([self._arrays[s][r] for s, r in (self._index[k] for k in keys)]).astype(np.float32)

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        if not keys:
            return
        name = _shard_name()
        npy, keys_file = self.dir / f"{name}.npy", self.dir / f"{name}.keys.parquet"
        with open(npy.with_name(npy.name + ".tmp"), "wb") as fh:
            np.save(fh, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
        os.replace(npy.with_name(npy.name + ".tmp"), npy)
        tmp = keys_file.with_name(keys_file.name + ".tmp")
        pl.DataFrame({"key": keys}).write_parquet(tmp)
        os.replace(tmp, keys_file)
        shard = len(self._arrays)
        self._arrays.append(np.asarray(vectors, dtype=np.float32))
        for row, key in enumerate(keys):
            self._index[key] = (shard, row)
