"""Cells and jobs: one (dataset, entry, seed) of a suite as plain data an executor can ship, and
``run_job``, which runs one wherever it is called (in-process, a pool worker or a Ray task)."""

from __future__ import annotations

import socket
import traceback
from dataclasses import dataclass

from recsys.bench.records import record_for
from recsys.bench.run_types import CellRun, checkpoint_path, entry_run_type
from recsys.bench.suite import Suite, suite_entry
from recsys.data.context_tensors import tensors_for
from recsys.data.prepare import prepare
from recsys.train.run import RunResult, failure_message


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


_PREPARED_DATA: dict = {}  # per process: dataset -> (PreparedDataset, tensors), reused by the next cells


def prepared_data(dataset: str, data_dir: str | None, progress: bool | None):
    key = (dataset, data_dir)
    if key not in _PREPARED_DATA:
        ds = prepare(dataset, data_dir, progress=progress is not False)
        _PREPARED_DATA[key] = (ds, tensors_for(ds))
    return _PREPARED_DATA[key]


def backbone_entries(suite: Suite) -> set[str]:
    """Entries whose weights a later cell reads (named as ``backbone`` by a second-wave entry)."""
    return {o["backbone"] for e, o in suite.models.items() if entry_run_type(suite, e).after_others}


def entry_tuning(suite: Suite, entry: str) -> dict | None:
    """The entry's study summary; a test-time entry (TTA4SR, PopBlend) has its backbone's: it reads the
    same tuned weights, so its comparison with the backbone is at an equal budget."""
    own = suite.tuning.get(entry)
    if own or entry not in suite.models:
        return own
    backbone = suite.models[entry].get("backbone")
    if backbone in suite.tuning and entry_run_type(suite, entry).after_others:
        return {**suite.tuning[backbone], "via_backbone": backbone}
    return None


def run_job(job: Job) -> Outcome:
    """Run one cell where this function is called.

    It writes nothing to the results store: the driver saves the returned records, so the store
    needs no sharing across machines. Any exception becomes a failed run; Ctrl-C is not caught.
    """
    import torch

    if job.threads:
        torch.set_num_threads(job.threads)
    suite, c = job.suite, job.cell
    ds, tensors = prepared_data(c.dataset, job.data_dir, job.progress)
    keeps_weights = backbone_entries(suite)
    saves = []

    def keep(result: RunResult, rid: str, chash: str) -> None:
        record, per_user = record_for(result, ds, rid, chash, {**job.executor, "worker_host": socket.gethostname()})
        record["suite"] = suite.name
        tuning = entry_tuning(suite, result.model)
        if tuning:  # the entry's tuning budget and chosen values, shown in leaderboards
            record["tuning"] = tuning
        saves.append((record, per_user))

    def run_entry(entry: str, overrides: dict, rid: str, chash: str) -> RunResult:
        cell = CellRun(suite, entry, overrides, ds, tensors, c.seed, job.progress,
                       checkpoint_path(rid) if entry in keeps_weights else None, train_entry)
        result = entry_run_type(suite, entry).run(cell)
        result.model = entry
        keep(result, rid, chash)
        return result

    def train_entry(entry: str, rid: str, chash: str) -> RunResult:
        return run_entry(entry, suite_entry(suite, entry), rid, chash)

    try:
        result = run_entry(c.entry, c.overrides, c.rid, c.chash)
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
