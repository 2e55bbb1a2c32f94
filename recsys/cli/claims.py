"""``recsys claims``: the claims ledger's verdicts, recomputed from a results store."""

from __future__ import annotations

from recsys.cli.common import results_dir


def cmd_claims(args) -> int:
    from recsys.report.claims import write_claims
    from recsys.bench.store import ResultsStore

    store = ResultsStore(results_dir(args), create=False)
    csv, md, page = write_claims(store, args.out, args.ledger, args.alpha)
    print(md.read_text())
    print(f"written: {csv}, {md}, {page}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("claims", help="check each paper's claims on the stored runs (the claims ledger)")
    p.add_argument("--results", help="results store folder (default $RECSYS_RESULTS or ./results)")
    p.add_argument("--out", default="leaderboard", help="output folder (claims.csv, claims.md, claims.html)")
    p.add_argument("--ledger", help="folder of paper TOML files (default: the shipped recsys/bench/claims/)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm's correction")
    p.set_defaults(func=cmd_claims)
