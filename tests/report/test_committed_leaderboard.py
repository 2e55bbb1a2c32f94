"""The committed leaderboard/ folder: every cell traceable to, and recomputed from, the stored runs."""

from pathlib import Path

import polars as pl
import pytest

from recsys.bench.store import ResultsStore
from recsys.bench.suite import SUITES_DIR
from recsys.report.leaderboard import recompute_check

ROOT = Path(__file__).resolve().parents[2] / "leaderboard"
SUITES = sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


@pytest.mark.parametrize("suite", SUITES)
def test_every_shipped_suite_has_a_consistent_leaderboard(suite):
    csv = ROOT / f"{suite}.csv"
    assert csv.is_file(), f"leaderboard/{suite}.csv missing: run `make leaderboard`"
    board = pl.read_csv(csv)
    for col in ("dataset", "model", "metric", "mean", "std", "seeds", "baseline", "p_value", "significant"):
        assert col in board.columns
    assert recompute_check(ResultsStore(ROOT / "results"), csv) == []
    assert (ROOT / f"{suite}.html").is_file() and (ROOT / f"{suite}.md").is_file()
