"""sha256 of large files (model weights), remembered beside the cache by path, size and mtime, so a
weights file is hashed once, not at every load."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from recsys.io.paths import cache_dir


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remembered_sha256(path: Path) -> str:
    """``file_sha256(path)``, looked up first in ``<cache>/hashes/sha256.json`` (hashing 90 MB: 0.3 s)."""
    path = Path(path)
    stat = path.stat()
    memo = cache_dir() / "hashes" / "sha256.json"
    known = json.loads(memo.read_text()) if memo.is_file() else {}
    tag = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    if tag not in known:
        known[tag] = file_sha256(path)
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(json.dumps(known, indent=1))
    return known[tag]
