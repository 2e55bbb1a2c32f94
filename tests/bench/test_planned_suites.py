"""Suites written but not run yet (``recsys/bench/suites/planned/``) stay runnable: each loads, names known
models and datasets, and every baseline and ``tuned_as`` it names is one of its own entries."""

import pytest

from recsys.bench.runner import check_suite
from recsys.bench.suite import SUITES_DIR, load_suite

PLANNED = sorted((SUITES_DIR / "planned").glob("*.toml"))


@pytest.mark.parametrize("path", PLANNED, ids=[p.stem for p in PLANNED])
def test_a_planned_suite_is_runnable_as_written(path):
    suite = load_suite(str(path))
    check_suite(suite)
    assert suite.name == path.stem and sum(1 for _ in suite.cells()) > 0
    for entry, overrides in suite.models.items():
        for key in ("baseline", "tuned_as"):
            if key in overrides:
                assert overrides[key] in suite.models, f"{path.name}: models.{entry}.{key} = {overrides[key]!r}"
    assert suite.baseline in suite.models
