"""``recsys tune``: an Optuna study of one model on one dataset, on validation data only, kept in the
results store (the same command resumes it)."""

from __future__ import annotations

import json

from recsys.cli.common import add_data_dir, add_log_options, overrides_from, positive_number, results_dir, seed_number, whole_number


def cmd_tune(args) -> int:
    from recsys.data import prepare
    from recsys.tune.study import tune

    ds = prepare(args.dataset, args.data_dir, download=args.download)
    space = None
    if args.space:
        import tomllib
        from pathlib import Path

        space = tomllib.loads(Path(args.space).read_text(encoding="utf-8"))
    result = tune(args.model, ds, overrides_from(args), args.trials, results_dir(args), metric=args.metric,
                  timeout=args.timeout, jobs=args.jobs, seed=args.seed, pruner=args.pruner, space=space,
                  progress=False if args.quiet else None, executor=args.executor, address=args.address,
                  threads=args.ray_cpus_per_trial)
    print(f"{result.model} on {ds.name}: best validation {result.metric} {result.best_value:.4f} after "
          f"{result.trials} trials ({result.complete} complete, {result.pruned} pruned"
          + (f", {result.lost} lost to a killed run" if result.lost else "") + f"; {result.seconds / 60:.1f} min)")
    print(f"  best: {json.dumps(result.best_params, sort_keys=True)}")
    sets = " ".join(f"--set {k}={json.dumps(v)}" for k, v in sorted(result.best_params.items()))
    print(f"  train it: recsys train --model {result.model} --dataset {args.dataset} {sets}")
    print(f"  study: {result.study} (trials in {results_dir(args)}/tuning/{result.study}/)")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("tune", help="tune a model's hyper-parameters on validation data (Optuna, resumable)")
    p.add_argument("--model", required=True, help="a registered model (see `recsys models`)")
    p.add_argument("--dataset", required=True, help="a dataset name or recipe file")
    p.add_argument("--trials", type=whole_number, default=20, help="finished trials the study should hold "
                   "(complete + pruned; a resumed study runs only the rest; default 20)")
    p.add_argument("--timeout", type=positive_number, help="stop starting trials after this many seconds")
    p.add_argument("--jobs", type=whole_number, default=1, help="trials run at once (local: threads; ray: "
                   "workers sharing the study's database; default 1)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where trials run: this process (default) or Ray workers (docs/scaling.md)")
    p.add_argument("--address", help="ray: the cluster (auto, or ray://HOST:10001); default: a local Ray instance")
    p.add_argument("--ray-cpus-per-trial", type=whole_number, default=1,
                   help="ray: CPUs reserved (and torch threads) per worker (default 1)")
    p.add_argument("--metric", help="validation metric to maximise (default: the run's valid_metric)")
    p.add_argument("--pruner", choices=("median", "hyperband", "none"), default="median",
                   help="stop unpromising trials on their per-epoch validation (default median)")
    p.add_argument("--space", help="TOML file replacing the model's search space, e.g. "
                   "learning_rate = [\"log\", 1e-4, 1e-2]")
    p.add_argument("--seed", type=seed_number, default=1, help="the sampler's and every trial's seed")
    p.add_argument("--config", help="TOML file of fixed config keys (not tuned)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="one fixed config key (repeatable)")
    p.add_argument("--results", help="results store folder (default $RECSYS_RESULTS or ./results)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (a line per trial still prints, "
                   "as recsys bench prints a line per cell)")
    add_log_options(p)
    add_data_dir(p)
    p.set_defaults(func=cmd_tune)
