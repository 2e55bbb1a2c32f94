"""``recsys merge``: merge fine-tuned checkpoints of one model."""

from __future__ import annotations

from recsys.cli.common import add_data_dir, seed_number


def cmd_merge(args) -> int:
    from recsys.merging.checkpoints import merge_checkpoints

    options = {k: v for k, v in (("scale", args.scale), ("density", args.density), ("drop", args.drop),
                                 ("then", args.then), ("alpha", args.alpha), ("decay", args.decay),
                                 ("seed", args.seed)) if v is not None}
    if args.weights:
        options["weights"] = [float(x) for x in args.weights.split(",")]
    dataset = None
    if args.method == "hi_merging" and args.dataset:
        from recsys.data import prepare

        dataset = prepare(args.dataset, args.data_dir)
    out, report = merge_checkpoints(args.method, args.base, list(args.models), args.out, options, dataset)
    print(f"{args.method}: merged {len(args.models)} checkpoints onto {args.base} -> {out}"
          + (f" (validation {report['start']:.4f} -> {report['final']:.4f})" if report else ""))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("merge", help="merge fine-tuned checkpoints of one model (docs/merging.md)")
    p.add_argument("--method", required=True, choices=("task_arithmetic", "ties", "dare", "hi_merging", "opcm",
                                                        "weighted"))
    p.add_argument("--base", required=True, help="the shared starting checkpoint (CKPT: CKPT.pt + CKPT.json)")
    p.add_argument("--models", required=True, nargs="+", help="the fine-tuned checkpoints, oldest first")
    p.add_argument("--out", required=True, help="where the merged checkpoint goes")
    p.add_argument("--scale", type=float, help="lambda (task arithmetic: default 1/T; TIES, OPCM: 1)")
    p.add_argument("--density", type=float, help="TIES / Hi-Merging: share of each task vector kept")
    p.add_argument("--drop", type=float, help="DARE: drop probability (default 0.5)")
    p.add_argument("--then", choices=("task_arithmetic", "ties"), help="DARE: the merge after dropping")
    p.add_argument("--alpha", type=float, help="OPCM: energy share of the protected singular directions")
    p.add_argument("--weights", help="weighted: comma-separated weights per model (default: recency)")
    p.add_argument("--decay", type=float, help="weighted: recency decay per step back (default 0.5)")
    p.add_argument("--seed", type=seed_number, help="DARE: the dropping seed")
    p.add_argument("--dataset", help="hi_merging: the dataset whose validation split guides it")
    add_data_dir(p)
    p.set_defaults(func=cmd_merge)
