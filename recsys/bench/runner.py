"""Runs suites cell by cell (model x dataset x seed) into a results store, resuming where it stopped.

The pieces: ``suite`` (the file), ``run_types`` (how an entry becomes a result), ``jobs`` (one cell,
run where it is sent), ``executors`` (where cells run), ``records`` and ``store`` (what is kept).
"""

from __future__ import annotations

from recsys.bench.executors import LocalExecutor
from recsys.bench.jobs import Cell, Job, Outcome, prepared_data, run_job
from recsys.bench.run_types import cell_id, entry_run_type
from recsys.bench.store import ResultsStore
from recsys.bench.suite import Suite, suite_entry
from recsys.data.prepare import prepare
from recsys.errors import RecipeError


def check_suite(suite: Suite) -> None:
    """Before anything runs: every entry names a known model (and its run type accepts its options), every
    dataset a known recipe."""
    from recsys.data.recipe import find_recipe
    from recsys.models.registry import UnknownModel

    for entry in suite.models:
        overrides = suite_entry(suite, entry)
        try:
            entry_run_type(suite, entry).check(suite, entry, overrides)
        except UnknownModel as exc:
            raise RecipeError(str(exc), recipe=f"suite {suite.name}", key=f"models.{entry}",
                              hint="name a registered model (recsys models), or add model = \"...\" to the entry")
    for dataset in suite.datasets:
        find_recipe(dataset)


def run_suite(suite: Suite, store: ResultsStore, data_dir: str | None = None, progress: bool | None = None,
              echo=print, executor=None) -> list[dict]:
    """Run every unfinished cell; returns the records of this suite (finished earlier or now).

    An entry may name its registered model with ``model = "..."`` (the entry name is then only its
    label). How a cell runs is its model's declared run type (``recsys.bench.run_types``): ``train``,
    ``per_domain`` (``per_domain = true``), ``tta`` (augments another entry's trained weights, kept under
    ``<cache>/checkpoints`` and trained again if the cache lost them) or ``periodic`` (a periodic-update
    strategy around a ``backbone``).

    ``executor`` (``recsys.bench.executors``): where the cells run; default: one after the other in
    this process. Second-wave run types (``tta``) run after every other cell (they read their backbone's weights).
    The driver alone writes to ``store``, as each cell comes back.
    """
    from recsys.bench.tuning import tune_entry, tuned_suite

    executor = executor or LocalExecutor(jobs=1)
    check_suite(suite)
    store.remove_debris()  # a killed run may have left a temporary file; its cell is simply redone
    keep_suite_file(suite, store)
    total = sum(1 for _ in suite.cells())
    prepared = {}

    def dataset(name):  # the driver needs each dataset's fingerprint (run ids); in-process cells reuse it
        if name not in prepared:
            prepared[name] = (prepared_data(name, data_dir, progress)[0] if executor.in_process
                              else prepare(name, data_dir, progress=progress is not False))
        return prepared[name]

    # [tune]: equal trial budgets, validation only. In this process each entry is tuned just before its
    # cells run (its results come early); elsewhere every entry is tuned first, then the cells are sent.
    lazy = bool(suite.tune) and executor.in_process
    if suite.tune and not lazy:
        suite = tuned_suite(suite, store.root, data_dir, progress, echo)
    first = [e for e in suite.models if not entry_run_type(suite, e).after_others]
    second = [e for e in suite.models if entry_run_type(suite, e).after_others]
    done = []
    for group in ([[e] for e in first] if lazy else [first]) + [second]:
        if lazy:
            for entry in group:
                suite = tune_entry(suite, entry, store.root, data_dir, progress, echo)
        pending = []
        for i, (name, entry, overrides, seed) in enumerate(suite.cells(), 1):
            if entry not in group:
                continue
            rid, chash = cell_id(suite, entry, overrides, seed, dataset(name))
            if store.has(rid):
                echo(f"[{i}/{total}] {entry} on {name}, seed {seed}: done earlier, skipped")
                store.tag(rid, suite.name)  # a cell this suite shares with another counts for both
                done.append(rid)
                continue
            pending.append(Cell(i, name, entry, overrides, seed, rid, chash))
        _run_cells(pending, suite, store, executor, data_dir, progress, echo, total, done)
    store.consolidate()
    return [r for r in store.records() if r["run_id"] in set(done)]


def keep_suite_file(suite: Suite, store: ResultsStore) -> None:
    """``<store>/suites/<name>.toml``: the suite as run, so ``recsys leaderboard --suite NAME`` finds its
    metrics and baseline by name (its name is checked to be a safe file name when the suite loads)."""
    from recsys.io.paths import inside
    from recsys.io.safe_write import atomic_write

    if suite.source:
        folder = store.root / "suites"
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(inside(folder, f"{suite.name}.toml"), lambda p: p.write_text(suite.source, encoding="utf-8"))


def _run_cells(cells: list[Cell], suite: Suite, store: ResultsStore, executor, data_dir, progress, echo,
               total: int, done: list) -> None:
    jobs = [Job(suite, cell, data_dir, progress, executor.describe(), executor.threads) for cell in cells]
    if executor.in_process:  # each cell announced before it runs: a long cell shows what is running
        for job in jobs:
            c = job.cell
            echo(f"[{c.index}/{total}] {c.entry} on {c.dataset}, seed {c.seed} ...")
            _record(run_job(job), store, echo, total, done, announced=True)
    elif jobs:
        where = executor.describe()
        echo(f"running {len(jobs)} cells on {where['kind']} "
             + (f"({where['jobs']} processes)" if where["kind"] == "local" else f"at {where['address']}")
             + "; each is reported when it finishes")
        for outcome in executor.run(jobs):
            _record(outcome, store, echo, total, done, announced=False)


def _record(outcome: Outcome, store: ResultsStore, echo, total: int, done: list, announced: bool) -> None:
    for record, per_user in outcome.saves:
        if record["run_id"] != outcome.cell.rid and store.has(record["run_id"]):
            continue  # a backbone trained again for its weights: its result is already stored
        store.save(record, per_user)
    c = outcome.cell
    head = "    " if announced else f"[{c.index}/{total}] {c.entry} on {c.dataset}, seed {c.seed}: "
    line = outcome.line if outcome.status == "ok" else f"{outcome.line} (recorded in {store.path(c.rid)})"
    echo(head + line)
    done.append(c.rid)
    if any((record.get("fit") or {}).get("terminated") for record, _ in outcome.saves):
        from recsys.errors import Terminated

        store.consolidate()
        raise Terminated(f"suite stopped at {c.entry} on {c.dataset}, seed {c.seed}")
