"""The results store: one JSON per run, per-user metric vectors, a consolidated parquet.

Layout under the store root::

    runs/<run_id>.json             summary, config, provenance, status (atomic write)
    per_user/<run_id>.<phase>.parquet   user index + every per-user metric
    results.parquet                one row per run and test phase (rebuilt by consolidate())

A run id is derived from (model, dataset fingerprint, config hash, seed), so a suite that is
interrupted and restarted finds its finished runs and skips them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from recsys.atomic_write import atomic_write  # noqa: F401  (re-exported: the store's writer)
from recsys.errors import DataError


def run_id(model: str, fingerprint: str, config_hash: str, seed: int) -> str:
    """``<model>-s<seed>-<digest>``; the model part keeps only file- and list-safe characters
    (``TTA4SR(SASRec, TMask-R)`` -> ``TTA4SR_SASRec_TMask-R``), the digest covers the full name."""
    digest = hashlib.sha256(f"{model}|{fingerprint}|{config_hash}|{seed}".encode()).hexdigest()[:12]
    return f"{safe_name(model)}-s{seed}-{digest}"


def safe_name(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", model).strip("_")


class ResultsStore:
    """A folder of run records. Writers hold an exclusive lock on ``<root>/.lock`` while they write,
    so two processes filling one store (two ``recsys bench`` on the same ``--results``) never
    interleave a record and its per-user files, or a consolidation with a write."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        (self.root / "runs").mkdir(parents=True, exist_ok=True)

    @contextmanager
    def lock(self):
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

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
            return json.loads(p.read_text()).get("status") == status
        except json.JSONDecodeError:
            return False  # a damaged record is redone, not trusted

    def save(self, record: dict, per_user: dict[str, pl.DataFrame] | None = None) -> Path:
        rid = record["run_id"]
        text = json.dumps(record, indent=2, default=str)  # fails before anything is written if it cannot
        with self.lock():  # per-user files first: a record on disk always has its vectors
            for phase, frame in (per_user or {}).items():
                atomic_write(self.root / "per_user" / f"{rid}.{phase}.parquet", frame.write_parquet)
            atomic_write(self.path(rid), lambda p: Path(p).write_text(text))
        return self.path(rid)

    def records(self) -> list[dict]:
        out = []
        for p in sorted((self.root / "runs").glob("*.json")):
            try:
                out.append(json.loads(p.read_text()))
            except json.JSONDecodeError as exc:
                raise DataError(f"damaged run record ({exc.msg}); delete it to re-run that cell", path=p) from exc
        return out

    def per_user(self, rid: str, phase: str = "test") -> pl.DataFrame:
        return pl.read_parquet(self.root / "per_user" / f"{rid}.{phase}.parquet")

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
            "run_id": r["run_id"], "suite": r.get("suite"), "model": r["model"], "dataset": r["dataset"],
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
        return records_frame(ResultsStore(path).records())
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix == ".json":
        return records_frame([json.loads(path.read_text())])
    raise DataError("expected a results store folder, a results.parquet or a run .json", path=path)
