"""``recsys bench``: run a suite into a results store."""

from __future__ import annotations

import sys
import time

from recsys.cli.common import add_log_options, results_dir, whole_number


def cmd_bench(args) -> int:
    from recsys.bench.executors import make_executor
    from recsys.bench.runner import run_suite
    from recsys.bench.store import ResultsStore, records_frame
    from recsys.bench.suite import load_suite
    from recsys.report.table import markdown_table
    from recsys.bench.records import run_time_summary

    started = time.perf_counter()
    suite = load_suite(args.suite)
    store = ResultsStore(results_dir(args))
    executor = make_executor(args.executor, args.jobs, args.address, args.ray_cpus_per_run)
    where = executor.describe()
    print(f"suite {suite.name}: {len(suite.models)} models x {len(suite.datasets)} datasets x "
          f"{len(suite.seeds)} seeds -> {store.root} (executor {where['kind']}"
          + (f", {args.jobs} jobs" if args.executor == "local" else f" at {where['address']}") + ")")
    try:
        records = run_suite(suite, store, args.data_dir, progress=False if args.quiet or args.jobs > 1 else None,
                            executor=executor)
    finally:
        if hasattr(executor, "close"):
            executor.close()
    print()
    print(markdown_table(records_frame(records)))
    ctr = any("auc" in r["test"].get("test", {}) for r in records)
    print("\nmean ± std over seeds; " + ("AUC / LogLoss / GAUC on the labelled test samples" if ctr else
                                          "full ranking, training items masked, pessimistic ties"))
    print(f"{run_time_summary(records, suite.name)}; this command: {time.perf_counter() - started:.0f} s wall")
    failed = sum(r["status"] != "ok" for r in records)
    if failed:
        print(f"error: {failed} of {len(records)} runs failed (recorded in {store.root / 'runs'}; the same command "
              "re-runs them)", file=sys.stderr)
    return 1 if failed else 0


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="run a suite (models x datasets x seeds) and print a leaderboard")
    p.add_argument("--suite", default="quick", help="a shipped suite name or a suite TOML file")
    p.add_argument("--results", help="results store folder (default $RECSYS_RESULTS or ./results)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--data-dir")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where cells run: local processes (default) or a Ray cluster (docs/scaling.md)")
    p.add_argument("--jobs", type=whole_number, default=1, help="local: cells run at once, each in its own process "
                   "with cores/jobs torch threads (default 1: in this process)")
    p.add_argument("--address", help="ray: the cluster (auto, or ray://HOST:10001); default: a local Ray "
                   "instance started for this suite")
    p.add_argument("--ray-cpus-per-run", type=whole_number, default=1, help="ray: CPUs reserved (and torch threads) "
                   "per cell (default 1)")
    add_log_options(p)
    p.set_defaults(func=cmd_bench)
