"""A suite's ``[tune]`` table: every trainable entry, baselines included, gets the same number of trials
of its own search space on one dataset's validation split; the best configuration then runs every
seed on every dataset. Test-time entries (TTA4SR) and strategies around a backbone are not tuned:
they use their backbone entry's tuned weights. An entry with ``tuned_as = "OTHER"`` is not tuned either:
it takes OTHER's chosen values (and shows OTHER's budget), so two rows that differ in one input only
(an LLM backend beside its fallback) differ in nothing else."""

from __future__ import annotations

import copy

from recsys.bench.suite import Suite, suite_entry
from recsys.errors import RecsysError


def tuned_suite(suite: Suite, store_root, data_dir: str | None = None, progress: bool | None = None,
                echo=print) -> Suite:
    """A copy of ``suite`` whose trainable entries carry their studies' best values (``suite.tuning`` says
    which, with the budget). Studies live in the results store: a rerun resumes or reuses them."""
    for entry in suite.models:
        suite = tune_entry(suite, entry, store_root, data_dir, progress, echo)
    return suite


def tune_entry(suite: Suite, entry: str, store_root, data_dir: str | None = None, progress: bool | None = None,
               echo=print) -> Suite:
    """``suite`` with ``entry`` tuned (a copy; the same suite when there is nothing to tune)."""
    from recsys.bench.jobs import prepared_data
    from recsys.bench.run_types import entry_run_type
    from recsys.tune.spaces import search_space
    from recsys.tune.study import tune

    if not suite.tune or entry in suite.tuning or entry_run_type(suite, entry).name not in ("train", "per_domain"):
        return suite
    source = suite.models[entry].get("tuned_as")
    if source is not None:
        suite = tune_entry(suite, source, store_root, data_dir, progress, echo)
        if source not in suite.tuning:
            return suite  # OTHER runs untuned: so does this entry
        out = copy.deepcopy(suite)
        out.models[entry] = {**suite.models[entry], **suite.tuning[source]["params"]}
        out.tuning[entry] = {**suite.tuning[source], "tuned_as": source}
        echo(f"  {entry}: {source}'s tuned values {suite.tuning[source]['params']}")
        return out
    opts = suite.tune
    overrides = {k: v for k, v in suite_entry(suite, entry).items() if k not in ("model", "per_domain", "progress")}
    model = suite_entry(suite, entry).get("model", entry)
    if not search_space(model, suite.models[entry].get("search_space")):
        return suite  # nothing to tune (MostPop): no budget is spent or shown
    dataset = opts.get("dataset", suite.datasets[0])
    ds, _ = prepared_data(dataset, data_dir, progress)
    echo(f"tuning {entry} on {dataset}: {opts['trials']} trials (validation {opts.get('metric', 'valid_metric')})")
    try:
        result = tune(model, ds, overrides, int(opts["trials"]), store_root, metric=opts.get("metric"),
                      seed=int(opts.get("seed", suite.seeds[0])), pruner=opts.get("pruner", "median"),
                      space=suite.models[entry].get("search_space"), progress=progress, echo=echo)
    except RecsysError as exc:  # one entry's failed study does not stop the suite: it runs untuned, and says so
        echo(f"  {entry}: tuning failed ({exc}); it runs untuned and its rows show no budget")
        return suite
    out = copy.deepcopy(suite)
    out.models[entry] = {**suite.models[entry], **result.best_params}
    out.tuning[entry] = result.as_record()
    echo(f"  {entry}: best {result.metric} {result.best_value:.4f} with {result.best_params} "
         f"({result.seconds / 60:.1f} min)")
    return out
