"""Where recsys reads raw data and writes everything it makes.

Raw data folders may be read-only and shared, so nothing is ever written there:
prepared datasets, splits, exports and caches all go under ``cache_dir()``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The installed ``recsys`` package (in a checkout: the repository's ``recsys/`` folder).
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
#: The shipped dataset recipes and the embedded ml-100k: package data, so a wheel carries them.
SHIPPED_RECIPES = PACKAGE_ROOT / "recipes"


def cache_dir() -> Path:
    """``$RECSYS_CACHE`` or ``~/.cache/recsys``; created on first use."""
    path = Path(os.environ.get("RECSYS_CACHE") or Path.home() / ".cache" / "recsys").expanduser()
    return writable_folder(path, "the cache folder", "set RECSYS_CACHE to a writable folder")


def writable_folder(path: Path, what: str, fix: str) -> Path:
    """``path`` as a folder we can write in, created if missing; otherwise one clear error saying ``fix``."""
    from recsys.errors import RecsysError

    if path.exists() and not path.is_dir():
        raise RecsysError(f"{what} {path} is a file, not a folder; {fix}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecsysError(f"{what} {path} cannot be created ({exc.strerror}); {fix}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise RecsysError(f"{what} {path} is not writable; {fix}")
    return path


def recipes_dir() -> Path:
    """Folder of the shipped dataset recipes (``$RECSYS_RECIPES`` overrides it)."""
    override = os.environ.get("RECSYS_RECIPES")
    return Path(override).expanduser() if override else SHIPPED_RECIPES


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The user's raw-data folder: ``--data-dir``, else ``$RECSYS_DATA``, else none."""
    value = explicit or os.environ.get("RECSYS_DATA")
    return Path(value).expanduser().resolve() if value else None


#: Longest name (in UTF-8 bytes) that becomes one file or folder name: far below the 255 of most
#: file systems, leaving room for suffixes such as ``-plots`` or ``.tmp-<pid>``.
NAME_MAX_BYTES = 100


def name_problem(value) -> str | None:
    """Why ``value`` cannot be used as one file or folder name (a dataset, suite or label), or None.

    A name is one path component: a non-empty string without ``/``, ``\\``, control characters
    (NUL, newline ...), not ``.`` or ``..``, at most ``NAME_MAX_BYTES`` bytes. So a name can never
    point outside the folder it is written under.
    """
    if not isinstance(value, str):
        return f"expected a string, found {type(value).__name__} {value!r}"
    if not value.strip():
        return "is empty"
    if value.strip() in (".", ".."):
        return f"{value!r} is not a name"
    if "/" in value or "\\" in value:
        return f"{value[:60]!r} contains '/' or '\\\\': a name is one folder name, not a path"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return f"{value[:60]!r} contains a control character (NUL, tab, newline ...)"
    if len(value.encode("utf-8")) > NAME_MAX_BYTES:
        return f"is {len(value.encode('utf-8'))} bytes long; at most {NAME_MAX_BYTES}"
    return None


def relative_path_problem(value) -> str | None:
    """Why ``value`` cannot be a path inside its folder (a recipe's file path), or None: it must be a
    non-empty relative path that never climbs out with ``..``."""
    from pathlib import PurePosixPath

    if not isinstance(value, str):
        return f"expected a string, found {type(value).__name__} {value!r}"
    if not value.strip() or any(ord(c) < 32 for c in value):
        return "is empty or contains a control character"
    pure = PurePosixPath(value.replace("\\", "/"))
    if pure.is_absolute() or value.startswith("~"):
        return f"{value!r} is absolute: give a path relative to the data folder"
    depth = 0
    for part in pure.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return f"{value!r} climbs out of its folder with '..'"
    return None


class OutsideFolder(ValueError):
    """A destination that would resolve outside the folder it belongs in."""


def inside(root: str | os.PathLike, *parts: str | os.PathLike) -> Path:
    """``root / parts...``, refused unless it resolves inside ``root`` (links followed).

    Every place that writes or deletes under a folder named by a user, a recipe or a suite goes
    through this, so no name, however it was spelled, reaches outside that folder.
    """
    base = Path(root).expanduser()
    target = base.joinpath(*parts)
    real_root, real = base.resolve(), target.resolve()
    if real != real_root and real_root not in real.parents:
        raise OutsideFolder(f"{target}: resolves to {real}, outside {real_root}; refused")
    return target


def folder_name(text: str) -> str:
    """``text`` (a model or backend name, which may hold '/' or '..') as one safe folder name.

    Safe names are kept as they are; others get their unsafe characters replaced and a short hash
    of the original, so two different names never share a folder.
    """
    import hashlib
    import re

    safe = re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("._")[:80]
    if safe == text:
        return safe
    return f"{safe}-{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}".lstrip("-")
