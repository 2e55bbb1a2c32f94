"""Data preparation speed: our polars pipeline vs RecBole's ``create_dataset`` + ``data_preparation``.

Both sides start from the same raw file and produce the same leave-one-out split;
each run is timed from reading the raw file to having train/valid/test ready.
Ours runs with ``force=True`` (no cache re-use) into a scratch cache folder.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def _scratch_cache():
    old = os.environ.get("RECSYS_CACHE")
    with tempfile.TemporaryDirectory(prefix="recsys-perf-") as tmp:
        os.environ["RECSYS_CACHE"] = tmp
        try:
            yield Path(tmp)
        finally:
            if old is None:
                os.environ.pop("RECSYS_CACHE", None)
            else:
                os.environ["RECSYS_CACHE"] = old


def compare_prepare(dataset: str = "ml-100k", data_root: str | None = None, model: str = "SASRec",
                    repeats: int = 3) -> dict:
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import init_seed

    from recsys.data import prepare
    from recsys.recbole.bridge import recbole_config

    ours, theirs = [], []
    ds = prepare(dataset, data_root, progress=False)  # warm imports and the file system cache
    config = recbole_config(model, ds, {"show_progress": False})
    for _ in range(repeats):
        with _scratch_cache():
            t0 = time.perf_counter()
            prepare(dataset, data_root, force=True, progress=False)
            ours.append(time.perf_counter() - t0)
        init_seed(config["seed"], True)
        t0 = time.perf_counter()
        rb = create_dataset(config)
        data_preparation(config, rb)
        theirs.append(time.perf_counter() - t0)
    a, b = statistics.median(ours), statistics.median(theirs)
    return {"dataset": dataset, "model": model, "repeats": repeats, "recsys_seconds": a,
            "recbole_seconds": b, "speedup": b / a, "recsys_runs": ours, "recbole_runs": theirs}
