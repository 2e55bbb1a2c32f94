"""``recsys doctor``: what this installation runs on, and whether RecBole works on it."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform

from recsys.io.paths import cache_dir, data_dir, recipes_dir
from recsys.recbole import compat

PACKAGES = ("recsys", "torch", "recbole", "numpy", "scipy", "pandas", "polars", "pyarrow", "faiss-cpu",
            "scikit-learn", "tqdm")


def _version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


def report(data_dir_arg: str | None = None) -> dict:
    problems = []
    versions = {name: _version(name) for name in PACKAGES}
    if versions["recbole"] == "not installed":
        problems.append("RecBole missing: pip install --no-deps recbole==1.2.1 (see README)")
    elif versions["recbole"] != "1.2.1":
        problems.append(f"RecBole {versions['recbole']} found; recsys is tested with 1.2.1")
    if versions["pandas"] != "not installed" and int(versions["pandas"].split(".")[0]) >= 3:
        problems.append("pandas >= 3 breaks RecBole's missing-value filling: pip install 'pandas<3'")
    threads = {}
    try:
        import torch

        # importing RecBole's sequential models is what used to switch anomaly mode on
        if versions["recbole"] != "not installed":
            import recbole.config.configurator  # noqa: F401
            import recbole.model.sequential_recommender  # noqa: F401
            import recbole.trainer.trainer  # noqa: F401
        threads = {"torch threads": torch.get_num_threads(), "cpu cores": os.cpu_count(),
                   "cuda": torch.cuda.is_available(), "anomaly detection": torch.is_anomaly_enabled()}
        if torch.is_anomaly_enabled():
            problems.append("autograd anomaly detection is on (slows training 14-45%)")
    except ImportError as exc:
        problems.append(f"cannot import torch/RecBole: {exc}")
    root = data_dir(data_dir_arg)
    from recsys.recbole.availability import (
        tuning_available,
        unavailable_models,
        why_unavailable,
    )

    optional = {name: why_unavailable(name) for name in sorted(unavailable_models())} if versions["recbole"] != (
        "not installed") else {}
    optional["RecBole HyperTuning"] = "available (hyperopt)" if tuning_available() else (
        "needs hyperopt (pip install 'recsys[tune]')")
    return {
        "versions": versions,
        "platform": {"python": platform.python_version(), "system": platform.platform(),
                     "machine": platform.machine()},
        "compat patches active": dict(compat.ACTIVE) or {"(none)": "nothing needed patching"},
        "compute": threads,
        "folders": {"data dir": f"{root} ({'found' if root and root.is_dir() else 'MISSING'})" if root
                    else "(none: set --data-dir or RECSYS_DATA; ml-100k is embedded)",
                    "cache": str(cache_dir()), "recipes": str(recipes_dir())},
        "optional RecBole parts": optional,
        "status": {"ok": not problems, "problems": problems or ["none"]},
    }
