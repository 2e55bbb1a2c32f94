"""Runs suites cell by cell (model x dataset x seed) into a results store, resuming where it stopped."""

from __future__ import annotations

import logging
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from recsys.bench.provenance import provenance
from recsys.bench.store import ResultsStore, run_id
from recsys.data.prepare import PreparedDataset, prepare
from recsys.data.tensors import DatasetTensors
from recsys.errors import RecipeError
from recsys.train.run import RunResult, config_hash, train_run

log = logging.getLogger(__name__)
SUITES_DIR = Path(__file__).parent / "suites"


@dataclass
class Suite:
    name: str
    datasets: list[str]
    seeds: list[int]
    models: dict[str, dict]
    defaults: dict = field(default_factory=dict)
    description: str = ""
    baseline: str | None = None  # the model every other is tested against in the leaderboard

    def cells(self):
        for dataset in self.datasets:
            for model, overrides in self.models.items():
                for seed in self.seeds:
                    yield dataset, model, {**self.defaults, **overrides}, seed


def load_suite(name_or_path: str) -> Suite:
    path = Path(name_or_path)
    if not path.is_file():
        path = SUITES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in SUITES_DIR.glob("*.toml"))
        raise RecipeError(f"unknown suite {name_or_path!r}; shipped suites: {known}, or give a TOML file")
    raw = tomllib.loads(path.read_text())
    for key in ("name", "datasets", "seeds", "models"):
        if key not in raw:
            raise RecipeError("missing key", recipe=path, key=key)
    return Suite(name=raw["name"], datasets=list(raw["datasets"]), seeds=[int(s) for s in raw["seeds"]],
                 models={m: dict(v) for m, v in raw["models"].items()}, defaults=dict(raw.get("defaults", {})),
                 description=raw.get("description", ""), baseline=raw.get("baseline"))


def run_label(model: str, llm_artefacts: list[dict]) -> str:
    """The name a leaderboard shows: a run that used a non-LLM fallback says so, e.g. ``X (keywords-tfidf fallback)``."""
    fallbacks = sorted({a["backend"] for a in llm_artefacts
                        if a.get("is_llm") is False or a.get("is_neural") is False})
    return f"{model} ({', '.join(fallbacks)} fallback)" if fallbacks else model


def record_for(result: RunResult, ds: PreparedDataset, rid: str, chash: str) -> tuple[dict, dict]:
    from recsys.llm.artefacts import backend_label

    backends = {a["artefact"]: backend_label(a) for a in result.llm_artefacts}
    record = {
        "run_id": rid, "model": result.model, "dataset": result.dataset, "seed": result.seed,
        "status": result.status, "error": result.error, "objective": result.objective,
        "label": run_label(result.model, result.llm_artefacts), "config": result.config,
        "test": {phase: r.summary for phase, r in result.test.items()},
        "valid": result.valid, "fit": result.fit,
        "wall_seconds": result.wall_seconds, "peak_memory_mb": result.peak_memory_mb,
        "provenance": provenance(ds, chash, result.seed, result.config.get("tie_policy", "pessimistic"),
                                 backends),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    per_user = {phase: pl.DataFrame({"user_idx": r.users, **r.per_user}) for phase, r in result.test.items()}
    return record, per_user


def run_suite(suite: Suite, store: ResultsStore, data_dir: str | None = None, progress: bool | None = None,
              echo=print) -> list[dict]:
    """Run every unfinished cell; returns the records of this suite (finished earlier or now)."""
    done = []
    cells = list(suite.cells())
    prepared: dict[str, tuple[PreparedDataset, DatasetTensors]] = {}
    for i, (dataset, model, overrides, seed) in enumerate(cells, 1):
        if dataset not in prepared:
            ds = prepare(dataset, data_dir, progress=progress is not False)
            prepared[dataset] = (ds, DatasetTensors(ds))
        ds, tensors = prepared[dataset]
        chash = config_hash({"model": model, **overrides})
        rid = run_id(model, ds.fingerprint, chash, seed)
        if store.has(rid):
            echo(f"[{i}/{len(cells)}] {model} on {dataset}, seed {seed}: done earlier, skipped")
            done.append(rid)
            continue
        echo(f"[{i}/{len(cells)}] {model} on {dataset}, seed {seed} ...")
        cfg = dict(overrides)
        if progress is not None:
            cfg.setdefault("progress", progress)
        result = train_run(model, ds, cfg, seed=seed, tensors=tensors)
        record, per_user = record_for(result, ds, rid, chash)
        record["suite"] = suite.name
        store.save(record, per_user)
        if result.status != "ok":
            echo(f"    FAILED: {result.error} (recorded in {store.path(rid)})")
        else:
            t = result.test["test"].summary
            echo(f"    NDCG@10 {t['ndcg@10']:.4f}  Recall@10 {t['recall@10']:.4f}  "
                 f"({result.fit['epochs_run']} epochs, {result.wall_seconds:.1f} s)")
        done.append(rid)
    store.consolidate()
    return [r for r in store.records() if r["run_id"] in set(done)]
