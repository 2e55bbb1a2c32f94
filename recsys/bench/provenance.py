"""What every result records about where it came from: code, packages, data, machine."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import subprocess
from functools import lru_cache

from recsys.io.paths import PACKAGE_ROOT

PACKAGES = ("recsys", "torch", "recbole", "numpy", "scipy", "pandas", "polars")


@lru_cache(maxsize=1)
def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(PACKAGE_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "-C", str(PACKAGE_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@lru_cache(maxsize=1)
def hardware() -> dict:
    import torch

    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "platform": platform.platform(), "python": platform.python_version()}


def provenance(ds, config_hash: str, seed: int, tie_policy: str, llm_backends: dict | None = None,
               executor: dict | None = None) -> dict:
    """``executor``: where the run ran, e.g. ``{"kind": "ray", "address": ..., "host": ...}``."""
    return {
        "git_commit": git_commit(),
        "packages": package_versions(),
        "dataset": ds.name,
        "dataset_fingerprint": ds.fingerprint,
        "split": ds.meta["recipe"]["split"],
        "config_hash": config_hash,
        "seed": seed,
        "tie_policy": tie_policy,
        "llm_backends": llm_backends or {},
        "hardware": hardware(),
        "executor": executor or {"kind": "local", "jobs": 1},
    }
