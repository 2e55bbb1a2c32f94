"""``recsys leaderboard``: tables, significance, plots and HTML from a results store."""

from __future__ import annotations

from recsys.cli.common import results_dir


def cmd_leaderboard(args) -> int:
    from recsys.bench.store import ResultsStore
    from recsys.report.publish import suite_options, write_leaderboard

    if args.all_runs:
        name, baseline, metrics = suite_options("all-runs", args.baseline, args.metrics)
    else:
        name, baseline, metrics = suite_options(args.suite, args.baseline, args.metrics, results_dir(args))
    store = ResultsStore(results_dir(args), create=False)
    csv, md = write_leaderboard(store, args.out, name, baseline, metrics, args.alpha, every_run=args.all_runs)
    if args.latex:
        from recsys.report.publish import write_latex

        print(f"LaTeX: {write_latex(csv)}")
    print(md.read_text())
    print(f"written: {csv}, {md}")
    from recsys.bench.records import run_time_summary

    print(run_time_summary(store.records(), None if args.all_runs else name))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("leaderboard", help="tables with mean ± std and significance marks from a results store")
    p.add_argument("--results", help="results store folder (default $RECSYS_RESULTS or ./results)")
    p.add_argument("--out", default="leaderboard", help="output folder (<suite>.csv and <suite>.md)")
    p.add_argument("--suite", default="quick", help="which suite's runs to tabulate: a shipped suite, a suite file, "
                   "or the name of a suite run into this store (its metrics and baseline are read from the copy "
                   "`recsys bench` keeps in <results>/suites/)")
    p.add_argument("--all-runs", action="store_true", help="every finished run in the store, `recsys train` runs "
                   "included (files named all-runs.*); give --baseline for significance marks")
    p.add_argument("--baseline", help="model to test against (default: the suite's declared baseline)")
    p.add_argument("--metrics", help="comma-separated columns (default: the suite's `metrics`, else "
                   "ndcg@10,recall@10,mrr@10); group metrics such as ndcg@10|item:tail work too")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--latex", action="store_true", help="also write <suite>.tex (booktabs tables)")
    p.set_defaults(func=cmd_leaderboard)
