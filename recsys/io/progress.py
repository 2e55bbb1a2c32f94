"""Progress a user can read anywhere: a bar on a terminal, and off one (``nohup``, a log file, CI) a
line every ``every`` seconds and at the end: done / total, percent, elapsed, ETA."""

from __future__ import annotations

import sys
import time


class LogProgress:
    """tqdm's ``update``/``close`` as plain log lines on stderr."""

    def __init__(self, total: int, desc: str, unit: str, every: float = 30.0):
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.n, self.t0, self.last = 0, time.perf_counter(), time.perf_counter()
        self.shown = -1  # the count the last line showed (close does not repeat it)

    def update(self, k: int = 1) -> None:
        self.n += k
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            self._line()

    def _line(self) -> None:
        self.shown = self.n
        spent = time.perf_counter() - self.t0
        eta = spent / self.n * (self.total - self.n) if self.n else float("nan")
        print(f"{self.desc}: {self.n:,}/{self.total:,} {self.unit}s ({100 * self.n / max(self.total, 1):.0f}%), "
              f"{spent / 60:.1f} min, ETA {eta / 60:.1f} min", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown != self.n:
            self._line()


def progress_bar(total: int, desc: str, unit: str = "item", every: float = 30.0):
    """A tqdm bar on a terminal; ``LogProgress`` lines elsewhere."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit)
    return LogProgress(total, desc, unit, every)
