"""``recsys train``: one model on one dataset, stored in the results store."""

from __future__ import annotations

import contextlib
import json
import os
import sys

from recsys.cli.common import (
    add_log_options,
    add_data_dir,
    add_precision,
    overrides_from,
    results_dir,
    seed_number,
    whole_number,
)
from recsys.errors import RecsysError


def _save_run(args, result, ds, chash: str):
    """Store one ``recsys train`` run in the results store; returns the record's path."""
    from recsys.bench.records import save_result
    from recsys.bench.store import ResultsStore, run_id

    store = ResultsStore(results_dir(args))
    path = save_result(store, result, ds, run_id(result.model, ds.fingerprint, chash, args.seed), chash)
    store.consolidate()
    return path


def cmd_train(args) -> int:
    from recsys import distributed
    from recsys.models.registry import get_model_spec

    if not distributed.launched_by_torchrun():
        if args.backend:
            print("error: --backend applies under torchrun (torchrun --nproc-per-node N -m recsys train ...)",
                  file=sys.stderr)
            return 2
        return _train(args)
    info = distributed.init_from_env(args.backend)
    if args.via == "recbole" or get_model_spec(args.model).run_type != "train":
        print("error: under torchrun, recsys train runs recsys's own loop on a trainable model "
              "(not --via recbole, not a test-time or suite strategy)", file=sys.stderr)
        return 2
    try:
        if not info.is_main:  # rank 0 alone prints, writes the checkpoint and stores the result
            args.quiet = True
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
                return _train(args)
        return _train(args)
    finally:
        distributed.shutdown()


def _train(args) -> int:
    from recsys import distributed
    from recsys.bench.run_types import train_model
    from recsys.data import prepare
    from recsys.models.registry import get_model_spec
    from recsys.train.run import config_hash

    overrides = overrides_from(args)
    run_type = get_model_spec(args.model).run_type
    if args.via != "recbole" and distributed.current().is_main:  # a bad --results fails now, not after training
        from recsys.bench.store import ResultsStore

        ResultsStore(results_dir(args))
    with distributed.main_first():  # rank 0 prepares (and caches) the data, then the others read it
        ds = prepare(args.dataset, args.data_dir, download=args.download)
    if args.via == "recbole":
        from recsys.recbole.bridge import run_recbole

        result = run_recbole(args.model, ds, {"seed": args.seed, **overrides})
        print(json.dumps(result["test"], indent=2))
        return 0
    if args.quiet:
        overrides.setdefault("progress", False)
    if run_type == "tta":
        return _train_tta(args, ds, overrides)
    if run_type != "train":
        raise RecsysError(f"{args.model} runs as {run_type!r}: it is a suite strategy; use it as an entry of a "
                          "suite (recsys bench --suite FILE, see docs/merging.md)")
    result = train_model(args.model, ds, overrides, seed=args.seed, checkpoint=args.checkpoint)
    if not distributed.current().is_main:
        return 0 if result.status == "ok" else 1
    path = _save_run(args, result, ds, config_hash({"model": result.model, **overrides}))
    if result.fit.get("terminated"):
        from recsys.errors import Terminated

        raise Terminated(f"recorded as failed in {path}")
    if result.status != "ok":
        print(f"error: run failed: {result.error}\n  recorded as failed in {path}", file=sys.stderr)
        return 1
    print(f"{result.model} on {ds.name} (seed {args.seed}, objective {result.objective}, loss {result.loss_family}, "
          f"{result.fit['epochs_run']} epochs, best {result.fit['best_epoch']}): " + result_line(result))
    groups = group_line(result)
    if groups:
        print(f"  groups: {groups}")
    if not result.fit.get("converged", True):
        print(f"  warning: not converged: the best epoch ({result.fit['best_epoch']}) is within the last patience "
              "epochs of the cap; raise epochs or set max_epochs (docs/fair-comparisons.md)")
    print(f"  result: {path}")
    return 0


def result_line(result) -> str:
    """The headline metrics; recall@10 only where it differs from hit@10 (one target per user: equal by definition)."""
    t = result.test["test"].summary
    keys = [k for k in ("ndcg@10", "hit@10", "recall@10", "mrr@10", "auc", "logloss", "gauc") if k in t]
    if "recall@10" in keys and "hit@10" in keys and abs(t["recall@10"] - t["hit@10"]) < 1e-12:
        keys.remove("recall@10")
    line = ", ".join(f"{k} {t[k]:.4f}" for k in keys)
    sampled = result.test.get("test_sampled")
    if sampled is not None:
        line += f"; sampled protocol ({sampled.extra.get('negatives')} negatives): ndcg@10 " \
                f"{sampled.summary['ndcg@10']:.4f}, hit@10 {sampled.summary['hit@10']:.4f}"
    return line


def group_line(result) -> str:
    """NDCG@10 per group the evaluation labels (head/tail items, popularity buckets, history lengths, domains)."""
    t = result.test["test"].summary
    groups = [k for k in t if k.startswith("ndcg@10|")]
    return ", ".join(f"{k.split('|', 1)[1]} {t[k]:.4f}" for k in groups)


def _train_tta(args, ds, overrides) -> int:
    """A ``tta`` model (TTA4SR): augment the backbone in --checkpoint (trained there first when new)."""
    from pathlib import Path

    from recsys.bench.run_types import ensure_backbone
    from recsys.train.run import config_hash
    from recsys.train.tta import tta_run

    if not args.checkpoint:
        raise RecsysError(f"{args.model} augments a trained model: give --checkpoint (an existing one from "
                          "`recsys train --model SASRec --checkpoint CKPT`, or a new path to train --backbone there "
                          "first)")
    ckpt = Path(args.checkpoint)
    if ckpt.with_suffix(".pt").is_file() and overrides:
        print("note: the checkpoint's own configuration is used; --set/--config only apply when training it")
    elif args.backbone and not ckpt.with_suffix(".pt").is_file():
        print(f"training {args.backbone} on {ds.name} into {ckpt.with_suffix('.pt')} ...")
    ensure_backbone(ckpt, args.backbone, ds, overrides, args.seed)
    tta = {"sigma": args.tta_sigma, "copies": args.tta_copies}
    if args.tta_sigma_grid:
        tta["sigma_grid"] = [float(x) for x in args.tta_sigma_grid.split(",")]
    result = tta_run(ckpt, ds, args.operator, tta, seed=args.seed)
    path = _save_run(args, result, ds, config_hash({"model": result.model, **result.config}))
    t = result.test["test"].summary
    timing = result.fit["inference"]["test"]
    print(f"{result.model} on {ds.name} (seed {args.seed}): ndcg@10 {t['ndcg@10']:.4f} "
          f"(backbone {timing['backbone_ndcg@10']:.4f}), hit@10 {t['hit@10']:.4f}; "
          f"inference {timing['time_ratio']:.1f}x the backbone's, +{timing['extra_ms_per_user']:.2f} ms per user")
    print(f"  result: {path}")
    return 0


def check_args(parser, args) -> None:
    """After parsing: --via recbole runs RecBole's own pipeline, which takes no checkpoint or results folder."""
    if args.via == "recbole":
        ignored = [f"--{k}" for k in ("checkpoint", "results", "backbone") if getattr(args, k, None)]
        if ignored:
            parser.error(f"train --via recbole runs RecBole's own pipeline, which takes no {', '.join(ignored)}")


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train one model on one dataset and store the result",
                       epilog="Keys for --set/--config: `recsys models MODEL` lists every key the model and the "
                       "trainer accept, with default, type and meaning (epochs, max_epochs, min_epochs, max_minutes, "
                       "eval_every, length_buckets, threads, eval_negatives, ...).")
    p.add_argument("--model", required=True, help="a registered model (see `recsys models`)")
    p.add_argument("--dataset", required=True, help="a dataset name or recipe file")
    p.add_argument("--seed", type=seed_number, default=1)
    p.add_argument("--config", help="TOML file of config keys (RecBole's names + trainer keys)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="one config key (repeatable)")
    add_precision(p)
    p.add_argument("--via", choices=("recsys", "recbole"), default="recsys",
                   help="recsys's fast loop (default) or RecBole's own pipeline")
    p.add_argument("--checkpoint", help="save the best weights here (.pt state dict + .json config); "
                   "for TTA4SR: the trained backbone to augment")
    p.add_argument("--backbone", help="TTA4SR: the sequential model to augment (trained into --checkpoint if new)")
    p.add_argument("--operator", default="TMask-R", help="TTA4SR: TMask-R | TMask-B | TNoise | Mask | Substitute")
    p.add_argument("--tta-sigma", type=float, help="TTA4SR: share of the history perturbed (default: the "
                   "paper's per-dataset value)")
    p.add_argument("--tta-copies", type=whole_number, help="TTA4SR: augmented copies averaged (default 10)")
    p.add_argument("--tta-sigma-grid", help="TTA4SR: comma-separated sigmas tried on validation; the best is "
                   "used on test (e.g. 0.1,0.2,0.3,0.5)")
    p.add_argument("--results", help="results store folder (default $RECSYS_RESULTS or ./results)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--backend", choices=("gloo", "nccl"),
                   help="under torchrun: the process group's backend (default: nccl with CUDA, else gloo)")
    add_log_options(p)
    add_data_dir(p)
    p.set_defaults(func=cmd_train, check=check_args)
