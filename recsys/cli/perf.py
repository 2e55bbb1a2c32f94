"""``recsys perf``: side-by-side speed measurements (recsys vs RecBole, executors)."""

from __future__ import annotations

import json

from recsys.cli.common import add_precision, overrides_from, whole_number


def cmd_perf_prepare(args) -> int:
    from recsys.perf.prepare import compare_prepare

    result = compare_prepare(args.dataset, args.data_dir, model=args.model, repeats=args.repeats)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.dataset}: recsys prepare {result['recsys_seconds']:.3f} s, RecBole create_dataset + "
              f"data_preparation ({args.model}) {result['recbole_seconds']:.3f} s -> "
              f"{result['speedup']:.1f}x faster (median of {args.repeats})")
    return 0


def cmd_perf_executor(args) -> int:
    from recsys.perf.executor import compare_jobs

    jobs = [int(x) for x in str(args.jobs).split(",")]
    r = compare_jobs(args.suite, jobs, args.data_dir)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"suite {r['suite']} ({r['cells']} cells), each configuration into a fresh store:")
    for run in r["runs"]:
        print(f"  --jobs {run['jobs']}: {run['wall_seconds']:.1f} s wall ({run['speedup']:.2f}x the first), "
              f"{run['cpu_seconds_in_cells']:.1f} s summed over cells, {run['failed']} failed")
    print(f"  largest metric difference between configurations: {r['max_metric_difference']:.2e}")
    return 0


def cmd_perf_train(args) -> int:
    from recsys.perf.train import compare_train

    hyper = overrides_from(args)
    seeds = [int(x) for x in str(args.seeds).split(",")]
    runs = [compare_train(args.model, args.dataset, args.data_dir, epochs=args.epochs, hyper=hyper,
                          objective=args.objective, seed=seed) for seed in seeds]
    r = {k: (sum(x[k] for x in runs) / len(runs) if isinstance(runs[0][k], float) else runs[0][k])
         for k in runs[0]}
    r["seeds"] = seeds
    if len(runs) > 1:
        r["per_seed"] = runs
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    if len(runs) > 1:
        print(f"mean over seeds {seeds}; NDCG@10 per seed: recsys "
              + ", ".join(f"{x['ndcg10_ours']:.4f}" for x in runs) + "; RecBole "
              + ", ".join(f"{x['ndcg10_recbole']:.4f}" for x in runs))
    print(f"{r['model']} on {r['dataset']}, {r['epochs']} epochs, {r['threads']} threads, same hyperparameters")
    print(f"  training   recsys {r['train_targets_per_s_ours']:,.0f} targets/s ({r['objective_ours']}), RecBole "
          f"{r['train_targets_per_s_recbole']:,.0f} -> {r['train_speedup']:.1f}x")
    print(f"  epoch      recsys {r['epoch_seconds_ours']:.1f} s, RecBole {r['epoch_seconds_recbole']:.1f} s")
    print(f"  full sort  recsys {r['eval_users_per_s_ours']:,.0f} users/s, RecBole "
          f"{r['eval_users_per_s_recbole']:,.0f} -> {r['eval_speedup']:.1f}x")
    print(f"  NDCG@10    recsys {r['ndcg10_ours']:.4f}, RecBole {r['ndcg10_recbole']:.4f}")
    print(f"  peak RSS   recsys {r['peak_memory_mb_ours']:.0f} MB, RecBole {r['peak_memory_mb_recbole']:.0f} MB")
    return 0


def cmd_perf_matmul(args) -> int:
    from recsys.perf.matmul import matmul_peaks

    r = matmul_peaks(args.device, args.repeats)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    native = "native bfloat16" if r["native_bf16"] else "no native bfloat16 (emulated)"
    print(f"{r['device']} ({r['cpu_capability']}, {r['threads']} threads, {native}); best of {args.repeats}:")
    for row in r["shapes"]:
        print(f"  {row['shape']:<22} fp32 {row['fp32_gflops']:8.1f} GFLOP/s   bf16 {row['bf16_gflops']:8.1f} GFLOP/s"
              f"   bf16/fp32 {row['bf16_speedup']:.2f}x")
    return 0


def add_parser(sub) -> None:
    perf = sub.add_parser("perf", help="side-by-side speed measurements: recsys vs RecBole, executors")
    psub = perf.add_subparsers(dest="perf_command", required=True)
    p = psub.add_parser("prepare", help="data preparation: recsys vs RecBole create_dataset + data_preparation")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--model", default="SASRec", help="RecBole model whose data preparation is timed")
    p.add_argument("--repeats", type=whole_number, default=3)
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_perf_prepare)

    p = psub.add_parser("train", help="training and full-sort speed: recsys vs RecBole's own pipeline")
    p.add_argument("--model", default="SASRec")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--epochs", type=whole_number, default=2)
    p.add_argument("--objective", default="auto", help="our objective (auto: the model's default)")
    p.add_argument("--seeds", default="2024", help="comma-separated seeds; figures are averaged")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyperparameter for both sides")
    add_precision(p)
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_perf_train)

    p = psub.add_parser("matmul", help="the machine's float32 and bfloat16 matrix-product peaks, side by side")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--repeats", type=whole_number, default=3)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_perf_matmul)

    p = psub.add_parser("executor", help="wall time of a suite with --jobs 1 vs N, side by side")
    p.add_argument("--suite", default="quick")
    p.add_argument("--jobs", default="1,2", help="comma-separated job counts; the first is the reference")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_perf_executor)
