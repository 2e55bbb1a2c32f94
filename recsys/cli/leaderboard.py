"""``recsys leaderboard``: tables, significance, plots and HTML from a results store."""

from __future__ import annotations

from recsys.cli.common import results_dir


def cmd_leaderboard(args) -> int:
    from recsys.bench.store import ResultsStore
    from recsys.report.publish import suite_options, write_leaderboard

    name, baseline, metrics = suite_options(args.suite, args.baseline, args.metrics)
    store = ResultsStore(results_dir(args), create=False)
    csv, md = write_leaderboard(store, args.out, name, baseline, metrics, args.alpha)
    if args.latex:
        from recsys.report.publish import write_latex

        print(f"LaTeX: {write_latex(csv)}")
    print(md.read_text())
    print(f"written: {csv}, {md}")
    from recsys.bench.records import run_time_summary

    print(run_time_summary(store.records(), name))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("leaderboard", help="tables with mean ± std and significance marks from a results store")
    p.add_argument("--results", help="results store folder (default $RECSYS_RESULTS or ./results)")
    p.add_argument("--out", default="leaderboard", help="output folder (<suite>.csv and <suite>.md)")
    p.add_argument("--suite", default="quick", help="which suite's runs to tabulate")
    p.add_argument("--baseline", help="model to test against (default: the suite's declared baseline)")
    p.add_argument("--metrics", help="comma-separated columns (default: the suite's `metrics`, else "
                   "ndcg@10,recall@10,mrr@10); group metrics such as ndcg@10|item:tail work too")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--latex", action="store_true", help="also write <suite>.tex (booktabs tables)")
    p.set_defaults(func=cmd_leaderboard)
