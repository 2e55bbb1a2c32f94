"""Where recsys reads raw data and writes everything it makes.

Raw data folders may be read-only and shared, so nothing is ever written there:
prepared datasets, splits, exports and caches all go under ``cache_dir()``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository's top-level ``datasets/`` folder (recipes and the embedded ml-100k).
REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """``$RECSYS_CACHE`` or ``~/.cache/recsys``; created on first use."""
    path = Path(os.environ.get("RECSYS_CACHE") or Path.home() / ".cache" / "recsys").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def recipes_dir() -> Path:
    """Folder of the shipped dataset recipes (``$RECSYS_RECIPES`` overrides it)."""
    override = os.environ.get("RECSYS_RECIPES")
    return Path(override).expanduser() if override else REPO_ROOT / "datasets"


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The user's raw-data folder: ``--data-dir``, else ``$RECSYS_DATA``, else none."""
    value = explicit or os.environ.get("RECSYS_DATA")
    return Path(value).expanduser().resolve() if value else None
