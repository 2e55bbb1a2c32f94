"""Runs suites cell by cell (model x dataset x seed) into a results store, resuming where it stopped."""

from __future__ import annotations

import logging
import socket
import time
import tomllib
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from recsys.bench.provenance import provenance
from recsys.bench.store import ResultsStore, run_id
from recsys.data.context_tensors import tensors_for
from recsys.data.prepare import PreparedDataset, prepare
from recsys.errors import RecipeError
from recsys.paths import name_problem
from recsys.train.run import RunResult, config_hash, failure_message, train_run

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
    metrics: list[str] | None = None  # the leaderboard's columns (group metrics allowed, e.g. ndcg@10|item:tail)

    @property
    def baselines(self) -> dict[str, str]:
        """Each entry's comparison: its own ``baseline`` key (GPRec vs its backbone) or the suite's baseline."""
        own = {m: o["baseline"] for m, o in self.models.items() if "baseline" in o}
        return {m: own.get(m, self.baseline) for m in self.models if own.get(m, self.baseline) is not None}

    def cells(self):
        """(dataset, entry, overrides, seed); an entry may limit itself with ``datasets``/``seeds`` keys."""
        for dataset in self.datasets:
            for model, overrides in self.models.items():
                overrides = dict(overrides)
                only_datasets = overrides.pop("datasets", None)
                only_seeds = overrides.pop("seeds", None)
                overrides.pop("baseline", None)  # this entry's own comparison (see ``baselines``)
                if only_datasets is not None and dataset not in only_datasets:
                    continue
                for seed in self.seeds:
                    if only_seeds is None or seed in only_seeds:
                        yield dataset, model, {**self.defaults, **overrides}, seed


SUITE_KEYS = {"name", "description", "datasets", "seeds", "baseline", "metrics", "defaults", "models"}


def load_suite(name_or_path: str) -> Suite:
    """A suite file, checked: every problem names the file and the key, with the expected type."""
    import difflib

    path = Path(name_or_path)
    if not path.is_file():
        path = SUITES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in SUITES_DIR.glob("*.toml"))
        raise RecipeError(f"unknown suite {name_or_path!r}; shipped suites: {known}, or give a TOML file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"invalid TOML: {exc}", recipe=path) from exc
    for key in ("name", "datasets", "seeds", "models"):
        if key not in raw:
            raise RecipeError("missing key", recipe=path, key=key)
    for key in raw:
        if key not in SUITE_KEYS:
            close = difflib.get_close_matches(key, SUITE_KEYS, n=1)
            raise RecipeError("unknown key", recipe=path, key=key,
                              hint=f"did you mean '{close[0]}'?" if close else f"allowed: {sorted(SUITE_KEYS)}")

    def expect(key, ok, what):
        if not ok(raw[key]):
            raise RecipeError(f"expected {what}, found {type(raw[key]).__name__} {raw[key]!r}", recipe=path, key=key)

    expect("name", lambda v: isinstance(v, str) and v, "a non-empty string")
    if name_problem(raw["name"]):
        raise RecipeError(f"the suite name {name_problem(raw['name'])}", recipe=path, key="name",
                          hint="it names the suite's leaderboard files: letters, digits, '-', '_' and '.' are safe")
    expect("datasets", lambda v: isinstance(v, list) and v and all(isinstance(x, str) for x in v),
           "a non-empty list of dataset names")
    expect("seeds", lambda v: isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool)
                                                                for x in v), "a non-empty list of integers")
    expect("models", lambda v: isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()),
           "a table of [models.NAME] tables")
    for key, what in (("defaults", "a table"), ("metrics", "a list of metric names"), ("baseline", "a model entry")):
        if key in raw:
            expect(key, {"defaults": lambda v: isinstance(v, dict),
                     "metrics": lambda v: isinstance(v, list) and v and all(isinstance(m, str) and m for m in v),
                         "baseline": lambda v: isinstance(v, str)}[key], what)
    for entry, options in raw["models"].items():
        _check_entry(entry, options, path)
    if "baseline" in raw and raw["baseline"] not in raw["models"]:
        raise RecipeError(f"names {raw['baseline']!r}, which is not an entry", recipe=path, key="baseline",
                          hint=f"entries: {', '.join(raw['models'])}")
    return Suite(name=raw["name"], datasets=list(raw["datasets"]), seeds=list(raw["seeds"]),
                 models={m: dict(v) for m, v in raw["models"].items()}, defaults=dict(raw.get("defaults", {})),
                 description=raw.get("description", ""), baseline=raw.get("baseline"),
                 metrics=raw.get("metrics"))


ENTRY_RULES = {  # suite entry keys the runner reads itself: (check, what is expected)
    "model": (lambda v: isinstance(v, str) and v, "a registered model name (recsys models)"),
    "datasets": (lambda v: isinstance(v, list) and v and all(isinstance(x, str) for x in v),
                 "a list of dataset names, e.g. [\"ml-100k\"]"),
    "seeds": (lambda v: isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v),
              "a list of integers"),
    "baseline": (lambda v: isinstance(v, str) and v, "an entry name"),
    "backbone": (lambda v: isinstance(v, str) and v, "an entry or model name"),
    "per_domain": (lambda v: isinstance(v, bool), "true or false"),
}


def _check_entry(entry: str, options: dict, path: Path) -> None:
    """An entry's own keys have the right types, and its label can name a results file."""
    if len(entry.encode("utf-8")) > 200 or any(ord(c) < 32 for c in entry):
        raise RecipeError("an entry name is at most 200 bytes, without control characters", recipe=path,
                          key=f"models.{entry[:40]}...")
    for key, (ok, what) in ENTRY_RULES.items():
        if key in options and not ok(options[key]):
            raise RecipeError(f"expected {what}, found {type(options[key]).__name__} {options[key]!r}"[:200],
                              recipe=path, key=f"models.{entry}.{key}")


def run_label(model: str, llm_artefacts: list[dict]) -> str:
    """The name a leaderboard shows: a run that used a non-LLM fallback says so, e.g. ``X (keywords-tfidf fallback)``."""
    fallbacks = sorted({a["backend"] for a in llm_artefacts
                        if a.get("is_llm") is False or a.get("is_neural") is False})
    return f"{model} ({', '.join(fallbacks)} fallback)" if fallbacks else model


def record_for(result: RunResult, ds: PreparedDataset, rid: str, chash: str,
               executor: dict | None = None) -> tuple[dict, dict]:
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
                                 backends, executor or _training_executor(result)),
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


def checkpoint_path(rid: str) -> Path:
    """Where the runner keeps the weights of a cell that another cell (a TTA4SR entry) builds on."""
    from recsys.paths import cache_dir

    return cache_dir() / "checkpoints" / rid


def _tta_keys(overrides: dict) -> dict:
    allowed = {"model", "backbone", "operator"} | {k for k in overrides if k.startswith("tta_")}
    return {k: v for k, v in overrides.items() if k in allowed}


def check_suite(suite: Suite) -> None:
    """Before anything runs: every entry names a known model and every dataset a known recipe."""
    from recsys.data.recipe import find_recipe
    from recsys.models.registry import UnknownModel, get_model_spec

    for entry in suite.models:
        overrides = suite_entry(suite, entry)
        try:
            if overrides.get("model") == "Merge":  # a periodic-update strategy (recsys.merging.periodic)
                get_model_spec(overrides.get("backbone", ""))
                continue
            get_model_spec(overrides.get("model", entry))
        except UnknownModel as exc:
            raise RecipeError(str(exc), recipe=f"suite {suite.name}", key=f"models.{entry}",
                              hint="name a registered model (recsys models), or add model = \"...\" to the entry")
    for dataset in suite.datasets:
        find_recipe(dataset)


@dataclass
class Cell:
    """One (dataset, entry, seed) of a suite, with its run id: plain data an executor can ship."""

    index: int
    dataset: str
    entry: str
    overrides: dict
    seed: int
    rid: str
    chash: str


@dataclass
class Job:
    """What a worker needs to run one cell; everything here is plain data (sent by spawn or Ray)."""

    suite: Suite
    cell: Cell
    data_dir: str | None
    progress: bool | None
    executor: dict  # recorded in each result's provenance
    threads: int | None = None  # torch threads when the entry does not set ``threads``


@dataclass
class Outcome:
    """A finished cell: the records (and per-user frames) the driver writes, a line for the log."""

    cell: Cell
    saves: list  # [(record, per_user)]; a TTA4SR cell may also carry its backbone's run
    status: str
    line: str


_PREPARED: dict = {}  # per process: dataset -> (PreparedDataset, tensors), reused by the next cells


def _prepared(dataset: str, data_dir: str | None, progress: bool | None):
    key = (dataset, data_dir)
    if key not in _PREPARED:
        ds = prepare(dataset, data_dir, progress=progress is not False)
        _PREPARED[key] = (ds, tensors_for(ds))
    return _PREPARED[key]


def suite_entry(suite: Suite, entry: str) -> dict:
    own = {k: v for k, v in suite.models[entry].items() if k not in ("datasets", "seeds", "baseline")}
    return {**suite.defaults, **own}


def cell_id(suite: Suite, entry: str, overrides: dict, seed: int, ds: PreparedDataset) -> tuple[str, str]:
    if overrides.get("model") == "TTA4SR":
        overrides = {**_tta_keys(overrides), "backbone_config": suite_entry(suite, overrides["backbone"])}
    chash = config_hash({"model": entry, **overrides})
    return run_id(entry, ds.fingerprint, chash, seed), chash


def run_job(job: Job) -> Outcome:
    """Run one cell where this function is called (in-process, a pool worker or a Ray task).

    It writes nothing to the results store: the driver saves the returned records, so the store
    needs no sharing across machines. Any exception becomes a failed run; Ctrl-C is not caught.
    """
    import torch

    if job.threads:
        torch.set_num_threads(job.threads)
    suite, c = job.suite, job.cell
    ds, tensors = _prepared(c.dataset, job.data_dir, job.progress)
    backbones = {o["backbone"] for o in suite.models.values() if o.get("model") == "TTA4SR"}
    saves = []

    def keep(result: RunResult, rid: str, chash: str) -> None:
        record, per_user = record_for(result, ds, rid, chash, {**job.executor, "worker_host": socket.gethostname()})
        record["suite"] = suite.name
        saves.append((record, per_user))

    def train_cell(entry, overrides, rid, chash):
        cfg = {k: v for k, v in overrides.items() if k != "model"}
        if job.progress is not None:
            cfg.setdefault("progress", job.progress)
        ckpt = checkpoint_path(rid) if entry in backbones else None
        if cfg.pop("per_domain", False):  # one model per domain of a cross-domain dataset, results merged
            from recsys.train.per_domain import train_per_domain

            result = train_per_domain(overrides.get("model", entry), ds, cfg, seed=c.seed, name=entry)
        else:
            result = train_run(overrides.get("model", entry), ds, cfg, seed=c.seed, tensors=tensors,
                               checkpoint=ckpt)
        result.model = entry
        keep(result, rid, chash)
        return result

    def run_cell():
        if c.overrides.get("model") == "Merge":
            from recsys.merging.periodic import periodic_run

            result = periodic_run(ds, {k: v for k, v in c.overrides.items() if k != "progress"}, c.seed, tensors,
                                  c.entry)
            keep(result, c.rid, c.chash)
            return result
        if c.overrides.get("model") != "TTA4SR":
            return train_cell(c.entry, c.overrides, c.rid, c.chash)
        from recsys.train.tta import tta_run

        b_entry = c.overrides["backbone"]
        b_rid, b_chash = cell_id(suite, b_entry, suite_entry(suite, b_entry), c.seed, ds)
        ckpt = checkpoint_path(b_rid)
        if not ckpt.with_suffix(".pt").is_file():  # its weights are gone (or were made on another machine)
            train_cell(b_entry, suite_entry(suite, b_entry), b_rid, b_chash)
        tta = {k[4:]: v for k, v in c.overrides.items() if k.startswith("tta_")}
        result = tta_run(ckpt, ds, c.overrides.get("operator", "TMask-R"), tta, seed=c.seed, tensors=tensors,
                         name=c.entry)
        keep(result, c.rid, c.chash)
        return result

    try:
        result = run_cell()
    except Exception as exc:  # noqa: BLE001  (a cell that cannot even start is recorded as failed; Ctrl-C stops)
        result = RunResult(model=c.entry, dataset=ds.name, seed=c.seed, status="failed", config=dict(c.overrides),
                           error=failure_message(exc), fit={"traceback": traceback.format_exc(limit=-8)})
        keep(result, c.rid, c.chash)
    return Outcome(cell=c, saves=saves, status=result.status, line=_summary_line(result))


def _summary_line(result: RunResult) -> str:
    if result.status != "ok":
        return f"FAILED: {result.error}"
    t = result.test["test"].summary
    extra = (f"{result.fit['epochs_run']} epochs, " if result.fit.get("epochs_run") else "")
    shown = [k for k in ("ndcg@10", "recall@10", "auc", "logloss") if k in t]
    names = {"ndcg@10": "NDCG@10", "recall@10": "Recall@10", "auc": "AUC", "logloss": "LogLoss"}
    return "  ".join(f"{names[k]} {t[k]:.4f}" for k in shown) + f"  ({extra}{result.wall_seconds:.1f} s)"


def run_suite(suite: Suite, store: ResultsStore, data_dir: str | None = None, progress: bool | None = None,
              echo=print, executor=None) -> list[dict]:
    """Run every unfinished cell; returns the records of this suite (finished earlier or now).

    An entry may name its registered model with ``model = "..."`` (the entry name is then only its
    label). ``model = "Merge"`` entries are strategies of the periodic-update protocol (a ``backbone``
    and a ``method``: retrain, latest or a merge method; ``recsys.merging.periodic``). A
    ``model = "TTA4SR"`` entry names another entry as ``backbone`` and an ``operator``: it trains
    nothing, it augments that entry's trained weights for the same dataset and seed (kept under
    ``<cache>/checkpoints``; trained again if the cache lost them). ``per_domain = true``
    trains the model once per domain of a cross-domain dataset and merges the per-user results.

    ``executor`` (``recsys.bench.executors``): where the cells run; default: one after the other in
    this process. TTA4SR entries run after every other cell (they read their backbone's weights).
    The driver alone writes to ``store``, as each cell comes back.
    """
    from recsys.bench.executors import LocalExecutor

    executor = executor or LocalExecutor(jobs=1)
    check_suite(suite)
    store.remove_debris()  # a killed run may have left a temporary file; its cell is simply redone
    for o in suite.models.values():
        if o.get("model") == "TTA4SR" and o.get("backbone") not in suite.models:
            raise RecipeError(f"TTA4SR entry names backbone {o.get('backbone')!r}, which is not an entry of "
                              f"suite {suite.name}", key="backbone", hint=f"entries: {', '.join(suite.models)}")
    raw = list(suite.cells())
    prepared = {}

    def dataset(name):  # the driver needs each dataset's fingerprint (run ids); in-process cells reuse it
        if name not in prepared:
            prepared[name] = (_prepared(name, data_dir, progress)[0] if executor.in_process
                              else prepare(name, data_dir, progress=progress is not False))
        return prepared[name]

    done, waves = [], ([], [])
    for i, (name, entry, overrides, seed) in enumerate(raw, 1):
        rid, chash = cell_id(suite, entry, overrides, seed, dataset(name))
        if store.has(rid):
            echo(f"[{i}/{len(raw)}] {entry} on {name}, seed {seed}: done earlier, skipped")
            store.tag(rid, suite.name)  # a cell this suite shares with another counts for both
            done.append(rid)
            continue
        waves[overrides.get("model") == "TTA4SR"].append(Cell(i, name, entry, overrides, seed, rid, chash))
    for wave in waves:
        jobs = [Job(suite, cell, data_dir, progress, executor.describe(), executor.threads) for cell in wave]
        if executor.in_process:  # each cell announced before it runs: a long cell shows what is running
            for job in jobs:
                c = job.cell
                echo(f"[{c.index}/{len(raw)}] {c.entry} on {c.dataset}, seed {c.seed} ...")
                _record(run_job(job), store, echo, len(raw), done, announced=True)
        elif jobs:
            where = executor.describe()
            echo(f"running {len(jobs)} cells on {where['kind']} "
                 + (f"({where['jobs']} processes)" if where["kind"] == "local" else f"at {where['address']}")
                 + "; each is reported when it finishes")
            for outcome in executor.run(jobs):
                _record(outcome, store, echo, len(raw), done, announced=False)
    store.consolidate()
    return [r for r in store.records() if r["run_id"] in set(done)]


def _record(outcome: Outcome, store: ResultsStore, echo, total: int, done: list, announced: bool) -> None:
    for record, per_user in outcome.saves:
        if record["run_id"] != outcome.cell.rid and store.has(record["run_id"]):
            continue  # a backbone trained again for its weights: its result is already stored
        store.save(record, per_user)
    c = outcome.cell
    head = "    " if announced else f"[{c.index}/{total}] {c.entry} on {c.dataset}, seed {c.seed}: "
    line = outcome.line if outcome.status == "ok" else f"{outcome.line} (recorded in {store.path(c.rid)})"
    echo(head + line)
    done.append(c.rid)
