"""What the store keeps of a run: its record (metrics, fit, provenance) and per-user frames."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import polars as pl

from recsys.bench.provenance import provenance
from recsys.bench.store import ResultsStore
from recsys.data.prepare import PreparedDataset
from recsys.train.run import RunResult


def run_label(model: str, llm_artefacts: list[dict], precision: str = "fp32") -> str:
    """The name a leaderboard shows: a run that used a non-LLM fallback says so, e.g. ``X (keywords-tfidf fallback)``,
    and a run trained in another precision than fp32 says which, e.g. ``SASRec [bf16]``."""
    fallbacks = sorted({a["backend"] for a in llm_artefacts
                        if a.get("is_llm") is False or a.get("is_neural") is False})
    label = f"{model} ({', '.join(fallbacks)} fallback)" if fallbacks else model
    return label if precision == "fp32" else f"{label} [{precision}]"


def record_for(result: RunResult, ds: PreparedDataset, rid: str, chash: str,
               executor: dict | None = None) -> tuple[dict, dict]:
    from recsys.llm.artefacts import backend_label
    from recsys.train.precision import describe as describe_precision

    backends = {a["artefact"]: backend_label(a) for a in result.llm_artefacts}
    record = {
        "run_id": rid, "model": result.model, "dataset": result.dataset, "seed": result.seed,
        "status": result.status, "error": result.error, "objective": result.objective,
        "loss_family": result.loss_family, "loss": result.loss,
        "label": run_label(result.model, result.llm_artefacts, result.config.get("precision", "fp32")),
        "config": result.config,
        "test": {phase: r.summary for phase, r in result.test.items()},
        "valid": result.valid, "fit": result.fit,
        "wall_seconds": result.wall_seconds, "peak_memory_mb": result.peak_memory_mb,
        "provenance": {**provenance(ds, chash, result.seed, result.config.get("tie_policy", "pessimistic"),
                                    backends, executor or _training_executor(result)),
                       "precision": describe_precision(result.config.get("precision", "fp32"))},
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    per_user = {phase: pl.DataFrame({"user_idx": r.users, **r.per_user,
                                     **{k: pl.Series(k, v.tolist(), dtype=pl.String) for k, v in r.groups.items()}})
                for phase, r in result.test.items()}
    return record, per_user


def _training_executor(result: RunResult) -> dict:
    """Where a run outside a suite ran: this process, or the ranks of a ``torchrun`` launch."""
    dist = result.fit.get("distributed")
    if dist:
        return {"kind": "torchrun", **dist, "host": socket.gethostname()}
    return {"kind": "local", "jobs": 1, "host": socket.gethostname()}


def save_result(store: ResultsStore, result: RunResult, ds: PreparedDataset, rid: str, chash: str,
                suite: str | None = None) -> Path:
    """Write a run's record and per-user files to ``store``; returns the record's path."""
    record, per_user = record_for(result, ds, rid, chash)
    if suite is not None:
        record["suite"] = suite
    return store.save(record, per_user)


def run_time_summary(records: list[dict], suite: str | None = None) -> str:
    """One line on what a suite's runs cost: runs, the summed wall time of their cells (what one
    process would need to run them all again) and the slowest cell."""
    from recsys.bench.store import record_suites

    runs = [r for r in records if suite is None or suite in record_suites(r)]
    if not runs:
        return f"suite {suite}: no runs in this store"
    seconds = [float(r.get("wall_seconds") or 0.0) for r in runs]
    slowest = max(range(len(runs)), key=seconds.__getitem__)
    top = runs[slowest]
    return (f"suite {suite or 'all'}: {len(runs)} runs, {sum(seconds) / 3600:.2f} h of summed cell wall time "
            f"(slowest: {top['model']} on {top['dataset']}, seed {top['seed']}, {seconds[slowest] / 60:.1f} min)")

