"""Fetching public raw files by URL, verified by sha256, written atomically.

Used only when a recipe's file is missing locally and the user asked for downloads.
A partial or corrupt download never replaces a good file: bytes go to a temporary
file first, and the rename happens only after the checksum matches.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from recsys.errors import DataError, RecsysError


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def fetch(url: str, dest: Path, sha256: str | None, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` unless a verified copy is already there."""
    from recsys.data.recipe import url_problem
    from recsys.io.net import https_opener

    problem = url_problem(url)
    if problem:
        raise DataError(problem, path=str(dest), hint="give the file an https url in the recipe")
    dest = Path(dest)
    if dest.exists() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".part-{os.getpid()}")
    h = hashlib.sha256()
    try:
        with https_opener(url_problem).open(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False,
                           disable=None)
            while block := resp.read(1 << 16):
                out.write(block)
                h.update(block)
                if bar:
                    bar.update(len(block))
            if bar:
                bar.close()
    except (OSError, RecsysError) as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"download failed: {exc}", path=url,
                        hint="check the network, or place the file in your --data-dir by hand") from exc
    got = h.hexdigest()
    if sha256 is not None and got != sha256:
        tmp.unlink(missing_ok=True)
        raise DataError(f"sha256 mismatch: expected {sha256}, got {got}; the file was not saved", path=url,
                        hint="the upstream file changed or the download was corrupted; retry or update the recipe")
    os.replace(tmp, dest)
    return dest
