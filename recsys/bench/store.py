"""The results store: one JSON per run, per-user metric vectors, a consolidated parquet.

Layout under the store root::

    runs/<run_id>.json             summary, config, provenance, status (atomic write)
    per_user/<run_id>.<phase>.parquet   user index + every per-user metric
    results.parquet                one row per run and test phase (rebuilt by consolidate())

A run id is derived from (model, dataset fingerprint, config hash, seed), so a suite that is
interrupted and restarted finds its finished runs and skips them. The same cell reached by a
second suite is not run again: the record lists every suite it belongs to (``suites``).

Records are read as untrusted files: anything that is not a run record is an error naming the
file, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import polars as pl

from recsys.errors import DataError, RecsysError
from recsys.io.paths import writable_folder
from recsys.io.safe_write import atomic_write, exclusive_lock

#: Keys every run record has; a JSON file without them is not a run record.
RECORD_KEYS = ("run_id", "model", "dataset", "seed", "status", "provenance")
#: The longest model part of a run id (the digest covers the whole name).
ID_NAME_CHARS = 80


def run_id(model: str, fingerprint: str, config_hash: str, seed: int) -> str:
    """``<model>-s<seed>-<digest>``; the model part keeps only file- and list-safe characters
    (``TTA4SR(SASRec, TMask-R)`` -> ``TTA4SR_SASRec_TMask-R``), the digest covers the full name."""
    digest = hashlib.sha256(f"{model}|{fingerprint}|{config_hash}|{seed}".encode()).hexdigest()[:12]
    return f"{safe_name(model)[:ID_NAME_CHARS]}-s{seed}-{digest}"


def safe_name(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", model).strip("_.") or "run"


def record_suites(record: dict) -> set[str]:
    """Every suite a run counts for: the one that ran it and those that found it already done."""
    return {s for s in [record.get("suite"), *record.get("suites", [])] if s}


class ResultsStore:
    """A folder of run records. Writers hold an exclusive lock on ``<root>/.lock`` while they write,
    so two processes filling one store (two ``recsys bench`` on the same ``--results``) never
    interleave a record and its per-user files, or a consolidation with a write."""

    def __init__(self, root: str | Path, create: bool = True):
        """``create=False`` (readers: leaderboards, ``load``): a missing folder is an error, not a new store."""
        self.root = Path(root)
        if not create:
            if not (self.root / "runs").is_dir():
                raise RecsysError(f"{self.root}: not a results store (no runs/ folder); give the folder that "
                                  "`recsys bench --results` or `recsys train --results` wrote")
            return
        writable_folder(self.root, "the results folder", "give --results a writable folder")
        writable_folder(self.root / "runs", "the results folder's runs/", "make it writable or use another --results")

    def lock(self):
        return exclusive_lock(self.root / ".lock")

    def remove_debris(self) -> int:
        """Delete temporary files left by writers that were killed (SIGKILL skips their clean-up)."""
        removed = 0
        with self.lock():
            for p in self.root.rglob("*.tmp-*"):
                pid = p.name.rsplit(".tmp-", 1)[-1]
                if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                    p.unlink(missing_ok=True)
                    removed += 1
        return removed

    def path(self, rid: str) -> Path:
        return self.root / "runs" / f"{rid}.json"

    def has(self, rid: str, status: str = "ok") -> bool:
        p = self.path(rid)
        if not p.is_file():
            return False
        try:
            record = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return False  # a damaged record is redone, not trusted
        return isinstance(record, dict) and record.get("status") == status

    def tag(self, rid: str, suite: str) -> None:
        """Count a finished run for ``suite`` too (a cell two suites share runs once)."""
        with self.lock():
            record = self._read(self.path(rid))
            if suite in record_suites(record):
                return
            record["suites"] = sorted(record_suites(record) | {suite})
            text = json.dumps(record, indent=2, default=str)
            atomic_write(self.path(rid), lambda p: Path(p).write_text(text))

    def save(self, record: dict, per_user: dict[str, pl.DataFrame] | None = None) -> Path:
        rid = record["run_id"]
        text = json.dumps(record, indent=2, default=str)  # fails before anything is written if it cannot
        written = []
        with self.lock():  # per-user files first: a record on disk always has its vectors
            try:
                for phase, frame in (per_user or {}).items():
                    written.append(self.root / "per_user" / f"{rid}.{phase}.parquet")
                    atomic_write(written[-1], frame.write_parquet)
                atomic_write(self.path(rid), lambda p: Path(p).write_text(text))
            except OSError as exc:  # no record: its per-user files would be orphans
                for path in written:
                    path.unlink(missing_ok=True)
                raise RecsysError(f"cannot write run {rid} to {self.root} ({exc.strerror or exc}); "
                                  "nothing was stored for it") from exc
        return self.path(rid)

    @staticmethod
    def _read(path: Path) -> dict:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"damaged run record ({exc.msg}); delete it to re-run that cell", path=path,
                            line=exc.lineno) from exc
        except UnicodeDecodeError as exc:
            raise DataError(f"not a run record (binary data at byte {exc.start}); delete it to re-run that cell",
                            path=path) from exc
        if not isinstance(record, dict):
            raise DataError(f"not a run record (a JSON {type(record).__name__}, expected an object)", path=path)
        missing = [k for k in RECORD_KEYS if k not in record]
        if missing:
            raise DataError(f"not a run record (missing {', '.join(missing)}); delete it or move it out of runs/",
                            path=path)
        return record

    def records(self) -> list[dict]:
        return [self._read(p) for p in sorted((self.root / "runs").glob("*.json"))]

    def per_user(self, rid: str, phase: str = "test") -> pl.DataFrame:
        path = self.root / "per_user" / f"{rid}.{phase}.parquet"
        if not path.is_file():
            raise DataError(f"per-user results of run {rid} ({phase}) are missing; re-run that cell "
                            "(delete its runs/ record)", path=path)
        try:
            return pl.read_parquet(path, glob=False)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise DataError(f"damaged per-user file ({str(exc).splitlines()[0][:120]}); re-run that cell", path=path) from exc

    def consolidate(self) -> pl.DataFrame:
        with self.lock():
            df = records_frame(self.records())
            atomic_write(self.root / "results.parquet", df.write_parquet)
        return df


def records_frame(records: list[dict]) -> pl.DataFrame:
    """One row per (run, test phase): identifiers, provenance columns and flattened metrics."""
    rows = []
    for r in records:
        base = {
            "run_id": r["run_id"], "suite": r.get("suite"), "suites": ",".join(sorted(record_suites(r))) or None,
            "model": r["model"], "dataset": r["dataset"],
            "seed": r["seed"],
            "status": r["status"], "objective": r.get("objective"), "error": r.get("error"),
            "label": r.get("label", r["model"]),
            "llm_backend": ",".join(f"{k}={v}" for k, v in sorted(r["provenance"].get("llm_backends", {}).items()))
            or None,
            "config_hash": r["provenance"]["config_hash"], "fingerprint": r["provenance"]["dataset_fingerprint"],
            "git_commit": r["provenance"]["git_commit"], "tie_policy": r["provenance"]["tie_policy"],
            "wall_seconds": r.get("wall_seconds"), "peak_memory_mb": r.get("peak_memory_mb"),
            "epochs_run": r.get("fit", {}).get("epochs_run"),
        }
        phases = r.get("test") or {"test": {}}
        for phase, metrics in phases.items():
            rows.append({**base, "phase": phase, **{k: float(v) for k, v in metrics.items()}})
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()  # a late string column: all rows


def load(path: str | Path) -> pl.DataFrame:
    """Results as a polars DataFrame: a store folder, its results.parquet, or a single run JSON."""
    path = Path(path)
    if path.is_dir():
        return records_frame(ResultsStore(path, create=False).records())
    if path.suffix == ".parquet":
        return pl.read_parquet(path, glob=False)
    if path.suffix == ".json":
        return records_frame([ResultsStore._read(path)])
    raise DataError("expected a results store folder, a results.parquet or a run .json", path=path)
