"""One way to write a file so that a crash, a kill or a full disk never leaves half of it.

Write to ``<name>.tmp-<pid>``, flush it to disk, rename it over ``<name>`` (atomic on POSIX); on
any failure remove the temporary file. Readers see the old file or the new one, nothing between.
"""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: Path, write) -> None:
    """Write to a temporary name, flush it to disk, then rename: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():  # the write failed (disk full, an exception): leave no partial file behind
            tmp.unlink()
