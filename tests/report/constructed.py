"""A results store with known answers: per-user values shifted by a chosen gain."""

import numpy as np
import polars as pl

from recsys.bench.store import ResultsStore


def make_store(tmp_path, gains, seeds=(1, 2), extra=None):
    """A store with per-user NDCG for a baseline and models whose per-user values differ by ``gains``;
    ``extra``: record fields per model (``{"X": {"loss_family": "bce"}}``)."""
    store = ResultsStore(tmp_path / "results")
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 0.2, size=300)
    for model, gain in {"Base": 0.0, **gains}.items():
        for seed in seeds:
            values = np.clip(base + gain + rng.normal(scale=0.002, size=300) * (gain != 0), 0, 1)
            rid = f"{model}-s{seed}"
            record = {"run_id": rid, "suite": "t", "model": model, "label": model, "dataset": "d", "seed": seed,
                      "status": "ok", "wall_seconds": 1.0 + len(model), "test": {"test": {"ndcg@10": float(values.mean())}},
                      "provenance": {"config_hash": "c", "dataset_fingerprint": "f", "git_commit": "g",
                                     "tie_policy": "pessimistic", "llm_backends": {}},
                      **(extra or {}).get(model, {})}
            store.save(record, {"test": pl.DataFrame({"user_idx": np.arange(300), "ndcg@10": values})})
    return store
