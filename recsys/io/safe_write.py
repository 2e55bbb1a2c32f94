"""One way to write a file so that a crash, a kill or a full disk never leaves half of it.

Write to ``<name>.tmp-<pid>``, flush it to disk, rename it over ``<name>`` (atomic on POSIX); on
any failure remove the temporary file. Readers see the old file or the new one, nothing between.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from contextlib import contextmanager
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


@contextmanager
def exclusive_lock(path: Path):
    """Hold an exclusive ``flock`` on ``path`` (created if missing): concurrent writers of one folder
    take turns. The lock goes with the process, so a killed writer never leaves it held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def remove_stale_temps(folder: Path) -> int:
    """Delete ``*.tmp-<pid>`` files and folders in ``folder`` whose writer is gone (killed with SIGKILL,
    it could not clean up). Call it while holding the folder's lock."""
    removed = 0
    for p in folder.glob("*.tmp-*"):
        pid = p.name.rsplit(".tmp-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and not p.is_symlink():
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed += 1
    return removed
