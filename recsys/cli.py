"""The ``recsys`` command. Argument parsing and printing only: the work lives in the packages."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys

from recsys.errors import RecsysError


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder with the raw data files (default: $RECSYS_DATA)")
    p.add_argument("--download", action="store_true",
                   help="fetch missing raw files from their upstream URL (verified by sha256)")


def _dataset_arg(args):
    return args.recipe or args.name


def cmd_data_list(args) -> int:
    from recsys.data import available, load_recipe_file

    rows = []
    for name, path in available().items():
        r = load_recipe_file(path)
        rows.append((name, r.task, r.description))
    if args.json:
        print(json.dumps([dict(name=n, task=t, description=d) for n, t, d in rows], indent=2))
        return 0
    width = max((len(n) for n, _, _ in rows), default=4)
    for n, t, d in rows:
        print(f"{n:<{width}}  {t:<14}  {d}")
    return 0


def cmd_data_prepare(args) -> int:
    from recsys.data import prepare

    ds = prepare(_dataset_arg(args), args.data_dir, force=args.force, download=args.download)
    s = ds.describe()
    print(f"{ds.name}: {s['users']:,} users, {s['items']:,} items, {s['interactions']:,} interactions "
          f"-> {ds.path}")
    if ds.meta.get("skipped_line_count"):
        print(f"  note: skipped {ds.meta['skipped_line_count']} malformed line(s) "
              f"(first: {ds.meta['skipped_lines'][:5]}), as the recipe allows")
    if args.export_atomic:
        from recsys.data.atomic import export_atomic

        root = export_atomic(ds)
        print(f"  RecBole atomic files: data_path={root} dataset={ds.name}")
    return 0


def cmd_data_describe(args) -> int:
    from recsys.data import prepare

    ds = prepare(_dataset_arg(args), args.data_dir, download=args.download, progress=not args.json)
    s = dict(ds.describe())
    s.update(name=ds.name, task=ds.task, fingerprint=ds.fingerprint, path=str(ds.path))
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    print(f"{ds.name} ({ds.task}) - {ds.meta['description']}")
    print(f"  users         {s['users']:>12,}")
    print(f"  items         {s['items']:>12,}")
    print(f"  interactions  {s['interactions']:>12,}")
    print(f"  density       {s['density']:>12.5f}")
    q = s["seq_len"]
    print(f"  per user      min {q['min']}, median {q['median']:.0f}, mean {q['mean']:.1f}, max {q['max']}")
    print(f"  timestamps    {'yes' if s['has_timestamps'] else 'no (order only)'}")
    print(f"  text coverage {s['text_coverage']:>12.4f}")
    print("  splits        " + ", ".join(f"{k} {v:,}" for k, v in s["splits"].items()))
    for key in ("domains", "scenarios"):
        if key in s:
            print(f"  {key:<13} " + ", ".join(f"{k} {v:,}" for k, v in s[key].items()))
    print(f"  fingerprint   {ds.fingerprint[:16]}  ({ds.path})")
    return 0


def cmd_data_ood_split(args) -> int:
    from recsys.data import prepare
    from recsys.data.ood import ood_recipe, shift_report
    from recsys.data.recipe import find_recipe

    path = ood_recipe(find_recipe(_dataset_arg(args)), args.shift, args.out, args.ood, args.valid, args.test,
                      args.seed)
    print(f"wrote {path}")
    ds = prepare(path, args.data_dir, download=args.download)
    report = shift_report(ds.interactions)
    if args.json:
        print(json.dumps({"recipe": str(path), "prepared": str(ds.path), "splits": report}, indent=2, default=str))
        return 0
    print(f"{ds.name}: {ds.describe()['users']:,} users, {ds.describe()['items']:,} items -> {ds.path}")
    print(f"  {'split':<9} {'rows':>9} {'users':>7}  mean training popularity of its items")
    for name, row in report.items():
        print(f"  {name:<9} {row['rows']:>9,} {row['users']:>7,}  {row['mean_train_popularity']:.1f}")
    print(f"use it with --recipe {path} (or `recsys train --dataset {path} ...`); "
          "test_ood is evaluated beside the IID test")
    return 0


def cmd_doctor(args) -> int:
    from recsys.doctor import report

    info = report(args.data_dir)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for section, values in info.items():
        print(f"{section}:")
        if isinstance(values, dict):
            for k, v in values.items():
                print(f"  {k:<26} {v}")
        else:
            print(f"  {values}")
    return 0 if info["status"]["ok"] else 1


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


def _parse_value(text: str):
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _overrides(args) -> dict:
    import tomllib

    out = {}
    if getattr(args, "config", None):
        try:
            with open(args.config, "rb") as fh:
                out.update(tomllib.load(fh))
        except tomllib.TOMLDecodeError as exc:
            raise RecsysError(f"--config {args.config}: invalid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise RecsysError(f"--config {args.config}: not UTF-8 text (byte {exc.start})") from exc
        except IsADirectoryError as exc:
            raise RecsysError(f"--config {args.config}: a folder; give a TOML file of config keys") from exc
        except OSError as exc:
            raise RecsysError(f"--config {args.config}: {exc.strerror}") from exc
    for item in getattr(args, "set", None) or []:
        if "=" not in item:
            raise RecsysError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        if not key.strip():
            raise RecsysError(f"--set expects key=value, got {item!r} (no key)")
        out[key.strip()] = _parse_value(value.strip())
    return out


def _results_dir(args) -> str:
    return args.results or os.environ.get("RECSYS_RESULTS") or "results"


def _save_run(args, result, ds, chash: str):
    """Store one ``recsys train`` run in the results store; returns the record's path."""
    from recsys.bench.runner import save_result
    from recsys.bench.store import ResultsStore, run_id

    store = ResultsStore(_results_dir(args))
    path = save_result(store, result, ds, run_id(result.model, ds.fingerprint, chash, args.seed), chash)
    store.consolidate()
    return path


def cmd_train(args) -> int:
    from recsys import distributed

    if not distributed.launched_by_torchrun():
        if args.backend:
            print("error: --backend applies under torchrun (torchrun --nproc-per-node N -m recsys train ...)",
                  file=sys.stderr)
            return 2
        return _train(args)
    info = distributed.init_from_env(args.backend)
    if args.via == "recbole" or args.model.lower() == "tta4sr":
        print("error: under torchrun, recsys train runs recsys's own loop on a trainable model "
              "(not --via recbole, not TTA4SR)", file=sys.stderr)
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
    from recsys.data import prepare
    from recsys.train.run import config_hash, train_run

    overrides = _overrides(args)
    with distributed.main_first():  # rank 0 prepares (and caches) the data, then the others read it
        ds = prepare(args.dataset, args.data_dir, download=args.download)
    if args.via == "recbole":
        from recsys.recbole_bridge import run_recbole

        result = run_recbole(args.model, ds, {"seed": args.seed, **overrides})
        print(json.dumps(result["test"], indent=2))
        return 0
    if args.quiet:
        overrides.setdefault("progress", False)
    if args.model.lower() == "tta4sr":
        return _train_tta(args, ds, overrides)
    result = train_run(args.model, ds, overrides, seed=args.seed, checkpoint=args.checkpoint)
    if not distributed.current().is_main:
        return 0 if result.status == "ok" else 1
    path = _save_run(args, result, ds, config_hash({"model": result.model, **overrides}))
    if result.status != "ok":
        print(f"error: run failed: {result.error}\n  recorded as failed in {path}", file=sys.stderr)
        return 1
    t = result.test["test"].summary
    print(f"{result.model} on {ds.name} (seed {args.seed}, objective {result.objective}, "
          f"{result.fit['epochs_run']} epochs, best {result.fit['best_epoch']}): "
          + ", ".join(f"{k} {t[k]:.4f}" for k in ("ndcg@10", "recall@10", "mrr@10", "hit@10", "auc", "logloss", "gauc")
                      if k in t))
    print(f"  result: {path}")
    return 0


def _train_tta(args, ds, overrides) -> int:
    """``recsys train --model TTA4SR``: augment a trained backbone (trained first if the checkpoint is new)."""
    from pathlib import Path

    from recsys.train.run import config_hash, train_run
    from recsys.train.tta import tta_run

    if not args.checkpoint:
        print("error: TTA4SR augments a trained model: give --checkpoint (an existing one from `recsys train "
              "--model SASRec --checkpoint CKPT`, or a new path to train --backbone there first)", file=sys.stderr)
        return 2
    ckpt = Path(args.checkpoint)
    if not ckpt.with_suffix(".pt").is_file():
        if not args.backbone:
            print(f"error: {ckpt.with_suffix('.pt')} does not exist; give --backbone to train one there first",
                  file=sys.stderr)
            return 2
        print(f"training {args.backbone} on {ds.name} into {ckpt.with_suffix('.pt')} ...")
        trained = train_run(args.backbone, ds, overrides, seed=args.seed, checkpoint=ckpt)
        if trained.status != "ok":
            print(f"error: backbone training failed: {trained.error}", file=sys.stderr)
            return 1
    elif overrides:
        print("note: the checkpoint's own configuration is used; --set/--config only apply when training it")
    meta = ckpt.with_suffix(".json")
    saved = json.loads(meta.read_text()).get("model", "") if meta.is_file() else ""
    if args.backbone and saved and saved.lower() != args.backbone.lower():
        print(f"error: {meta} holds a {saved} model, not --backbone {args.backbone}", file=sys.stderr)
        return 2
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


def cmd_merge(args) -> int:
    from recsys.merging.methods import MergeError, check_compatible, merge
    from recsys.train.checkpoint import read_meta, read_state, save_state

    paths = [args.base, *args.models]
    states = [read_state(p) for p in paths]
    metas = [read_meta(p) for p in paths]
    kinds = {m.get("model") for m in metas if m.get("model")}
    if len(kinds) > 1:
        named = ", ".join(f"{p}: {m.get('model')}" for p, m in zip(paths, metas))
        raise MergeError(f"checkpoints hold different models ({named}); merging needs one architecture")
    check_compatible(states[0], states[1:], list(args.models), [m.get("item_space") for m in metas])
    options = {k: v for k, v in (("scale", args.scale), ("density", args.density), ("drop", args.drop),
                                 ("then", args.then), ("alpha", args.alpha), ("decay", args.decay),
                                 ("seed", args.seed)) if v is not None}
    if args.weights:
        options["weights"] = [float(x) for x in args.weights.split(",")]
    report = None
    if args.method == "hi_merging":
        if not args.dataset:
            raise MergeError("hi_merging measures each layer's contribution on validation data: give --dataset "
                             "(the dataset the checkpoints were trained on)")
        state, report = _hi_merge(args, states, metas[0], options)
    else:
        state = merge(args.method, states[0], states[1:], **options)
    out = save_state(state, args.out, {**metas[0], "merged": {"method": args.method, "options": options,
                                                              "base": args.base, "models": list(args.models)}})
    print(f"{args.method}: merged {len(args.models)} checkpoints onto {args.base} -> {out}"
          + (f" (validation {report['start']:.4f} -> {report['final']:.4f})" if report else ""))
    return 0


def _hi_merge(args, states, meta, options):
    from recsys.data import prepare
    from recsys.data.context_tensors import tensors_for
    from recsys.merging.methods import hi_merging
    from recsys.merging.periodic import state_evaluator

    ds = prepare(args.dataset, args.data_dir)
    evaluate = state_evaluator(meta["model"], ds, meta.get("config", {}), int(meta.get("seed", 1)), tensors_for(ds))
    return hi_merging(states[0], states[1:], lambda s: evaluate(s).summary["ndcg@10"], options.get("density", 0.9))


def cmd_bench(args) -> int:
    from recsys.bench.executors import make_executor
    from recsys.bench.runner import load_suite, run_suite
    from recsys.bench.store import ResultsStore, records_frame
    from recsys.report.table import markdown_table

    suite = load_suite(args.suite)
    store = ResultsStore(_results_dir(args))
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
    failed = sum(r["status"] != "ok" for r in records)
    if failed:
        print(f"error: {failed} of {len(records)} runs failed (recorded in {store.root / 'runs'}; the same command "
              "re-runs them)", file=sys.stderr)
    return 1 if failed else 0


def cmd_leaderboard(args) -> int:
    from pathlib import Path

    from recsys.bench.runner import load_suite
    from recsys.bench.store import ResultsStore
    from recsys.report.leaderboard import write_leaderboard

    baseline, metrics, name = args.baseline, args.metrics, args.suite
    try:
        suite = load_suite(args.suite)
        name = suite.name  # a suite given as a file path is stored under its name
        baseline = baseline or (suite.baselines if any(v != suite.baseline for v in suite.baselines.values())
                                else suite.baseline)
        metrics = metrics or ",".join(suite.metrics or [])
    except RecsysError:
        if args.suite.endswith(".toml") or Path(args.suite).exists():
            raise  # a suite file that does not load is an error, not a name
    metrics = tuple(m.strip() for m in (metrics or "ndcg@10,recall@10,mrr@10").split(",") if m.strip())
    store = ResultsStore(_results_dir(args), create=False)
    csv, md = write_leaderboard(store, args.out, name, baseline, metrics, args.alpha)
    if args.latex:
        import polars as pl

        from recsys.report.leaderboard import latex

        tex = md.with_suffix(".tex")
        from recsys.bench.store import atomic_write

        table = latex(pl.read_csv(csv, glob=False))
        atomic_write(tex, lambda p: p.write_text(table))
        print(f"LaTeX: {tex}")
    print(md.read_text())
    print(f"written: {csv}, {md}")
    return 0


def cmd_models(args) -> int:
    from recsys.models import list_models

    for spec in list_models(args.task):
        flag = " [full-sequence objective]" if spec.full_sequence else ""
        print(f"{spec.name:<16} {spec.task:<12} {spec.source:<8} {spec.description}{flag}")
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

    hyper = _overrides(args)
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


def _llm_dataset(args):
    from recsys.data import prepare

    return prepare(args.dataset, args.data_dir, download=getattr(args, "download", False))


def _encoder(args, ds):
    from recsys.llm.encoders import make_encoder
    from recsys.llm.templates import ItemTemplate

    corpus = [t or "" for t in ItemTemplate.for_dataset(ds).render(ds.items.sort("item_idx"))]
    return make_encoder(args.encoder, corpus=corpus, base_url=getattr(args, "base_url", None),
                        model=getattr(args, "model", None), api_key_env=getattr(args, "api_key_env", "OPENAI_API_KEY"))


def cmd_llm_embed(args) -> int:
    from recsys.llm.embed import embed_items

    ds = _llm_dataset(args)
    enc = _encoder(args, ds)
    emb, meta = embed_items(ds, enc, limit=args.limit)
    print(f"{ds.name}: {meta['embedded']:,} of {meta['items']:,} items embedded with {enc.name} ({enc.model}), "
          f"{meta['dim']}-d; {enc.calls:,} encoded now, {meta['embedded'] - meta['encoded_now']:,} from the cache"
          + ("" if enc.is_neural else "  [non-neural fallback]"))
    return 0


def cmd_llm_sids(args) -> int:
    import numpy as np

    from recsys.llm.artefacts import artefact_dir
    from recsys.llm.embed import embed_items, pca
    from recsys.llm.sids import build_sids

    ds = _llm_dataset(args)
    enc = _encoder(args, ds)
    emb, meta = embed_items(ds, enc)
    if args.pca:
        emb = pca(emb, args.pca)
    sids, info = build_sids(ds, emb, meta, args.levels, args.codes, args.beam)
    print(f"{ds.name}: semantic IDs for {info['items']:,} items, {args.levels} levels x {args.codes} codes + "
          f"1 disambiguation level; collisions before disambiguation: {info['colliding_items']:,} items in "
          f"{info['collision_groups']:,} groups (largest {info['largest_group']}); relative quantisation error "
          f"{info['relative_quantization_error']:.3f}; unique tuples: "
          f"{len(np.unique(sids[1:][sids[1:, 0] >= 0], axis=0)):,}")
    print(f"  -> {artefact_dir(ds)}")
    return 0


def cmd_llm_profile(args) -> int:
    from recsys.llm.generators import make_generator
    from recsys.llm.profiles import build_profiles
    from recsys.llm.templates import ItemTemplate

    ds = _llm_dataset(args)
    catalogue = [t or "" for t in ItemTemplate.for_dataset(ds).render(ds.items)]
    gen = make_generator(args.generator, catalogue=catalogue, base_url=args.base_url, model=args.model,
                         api_key_env=args.api_key_env, timeout=args.timeout, rate=args.rate,
                         concurrency=args.concurrency)
    embeddings = None
    if args.kind == "hierarchical":
        from recsys.llm.embed import embed_items

        embeddings, _ = embed_items(ds, _encoder(args, ds))
    frame, meta = build_profiles(ds, gen, limit=args.limit, max_items=args.max_items, kind=args.kind,
                                 embeddings=embeddings)
    print(f"{ds.name}: {len(frame):,} user profiles from {gen.name} ({gen.model}); {meta['generated_now']:,} "
          f"generated now, the rest from the cache" + ("" if gen.is_llm else "  [non-LLM fallback]"))
    print(f"  example: {frame['profile'][0][:200]}")
    return 0


def cmd_llm_status(args) -> int:
    from recsys.llm.artefacts import artefact_dir, backend_label, list_artefacts

    ds = _llm_dataset(args)
    arts = list_artefacts(ds)
    if not arts:
        print(f"{ds.name}: no LLM-side artefacts yet ({artefact_dir(ds)})")
        return 0
    for a in arts:
        print(f"{a['artefact']:<36} {backend_label(a):<36} model {a.get('model', '')!s:<40} "
              f"coverage {a.get('coverage', 0):.3f}  {a['created']}")
    return 0


def _count(text: str) -> int:
    """argparse type: a whole number >= 1 (epochs, repeats, jobs, sizes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _seed(text: str) -> int:
    """argparse type: a seed numpy and torch both accept (0 <= seed < 2**32)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**32), got {value}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (what is wrong, and where the help is), exit code 2."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="recsys", description="Recommender-systems benchmark toolkit.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="list, prepare and describe datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    p = dsub.add_parser("list", help="shipped dataset recipes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data_list)
    for name, func, text in (("prepare", cmd_data_prepare, "prepare a dataset (cached by fingerprint)"),
                             ("describe", cmd_data_describe, "statistics of a prepared dataset")):
        p = dsub.add_parser(name, help=text)
        p.add_argument("name", nargs="?", help="a shipped dataset name (see `recsys data list`)")
        p.add_argument("--recipe", help="a recipe TOML file instead of a shipped name")
        _add_data_dir(p)
        p.set_defaults(func=func)
        if name == "prepare":
            p.add_argument("--force", action="store_true", help="prepare again even if cached")
            p.add_argument("--export-atomic", action="store_true", help="also write RecBole atomic files")
        else:
            p.add_argument("--json", action="store_true", help="machine-readable output")

    p = dsub.add_parser("ood-split", help="derive a recipe with an IID split plus a shifted test_ood split")
    p.add_argument("name", nargs="?", help="a shipped dataset name (see `recsys data list`)")
    p.add_argument("--recipe", help="a recipe TOML file instead of a shipped name")
    p.add_argument("--shift", required=True, choices=("popularity", "temporal"),
                   help="popularity: OOD items drawn inversely to popularity; temporal: each user's latest share")
    p.add_argument("--ood", type=float, default=0.2, help="share of interactions in test_ood (default 0.2)")
    p.add_argument("--valid", type=float, default=0.1, help="share of the rest for IID validation (default 0.1)")
    p.add_argument("--test", type=float, default=0.2, help="share of the rest for the IID test (default 0.2)")
    p.add_argument("--seed", type=_seed, default=2024)
    p.add_argument("--out", default=".", help="folder for the derived recipe (default: the current folder)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_data_dir(p)
    p.set_defaults(func=cmd_data_ood_split)

    p = sub.add_parser("doctor", help="versions, compatibility patches, threads, data folder")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    perf = sub.add_parser("perf", help="side-by-side speed measurements: recsys vs RecBole, executors")
    psub = perf.add_subparsers(dest="perf_command", required=True)
    p = psub.add_parser("prepare", help="data preparation: recsys vs RecBole create_dataset + data_preparation")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--model", default="SASRec", help="RecBole model whose data preparation is timed")
    p.add_argument("--repeats", type=_count, default=3)
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_perf_prepare)

    p = psub.add_parser("train", help="training and full-sort speed: recsys vs RecBole's own pipeline")
    p.add_argument("--model", default="SASRec")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--epochs", type=_count, default=2)
    p.add_argument("--objective", default="auto", help="our objective (auto: the model's default)")
    p.add_argument("--seeds", default="2024", help="comma-separated seeds; figures are averaged")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyperparameter for both sides")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_perf_train)

    p = psub.add_parser("executor", help="wall time of a suite with --jobs 1 vs N, side by side")
    p.add_argument("--suite", default="quick")
    p.add_argument("--jobs", default="1,2", help="comma-separated job counts; the first is the reference")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_perf_executor)

    p = sub.add_parser("train", help="train one model on one dataset and store the result")
    p.add_argument("--model", required=True, help="a registered model (see `recsys models`)")
    p.add_argument("--dataset", required=True, help="a dataset name or recipe file")
    p.add_argument("--seed", type=_seed, default=1)
    p.add_argument("--config", help="TOML file of config keys (RecBole's names + trainer keys)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="one config key (repeatable)")
    p.add_argument("--via", choices=("recsys", "recbole"), default="recsys",
                   help="recsys's fast loop (default) or RecBole's own pipeline")
    p.add_argument("--checkpoint", help="save the best weights here (.pt state dict + .json config); "
                   "for TTA4SR: the trained backbone to augment")
    p.add_argument("--backbone", help="TTA4SR: the sequential model to augment (trained into --checkpoint if new)")
    p.add_argument("--operator", default="TMask-R", help="TTA4SR: TMask-R | TMask-B | TNoise | Mask | Substitute")
    p.add_argument("--tta-sigma", type=float, help="TTA4SR: share of the history perturbed (default: the "
                   "paper's per-dataset value)")
    p.add_argument("--tta-copies", type=_count, help="TTA4SR: augmented copies averaged (default 10)")
    p.add_argument("--tta-sigma-grid", help="TTA4SR: comma-separated sigmas tried on validation; the best is "
                   "used on test (e.g. 0.1,0.2,0.3,0.5)")
    p.add_argument("--results", help="results store folder (default $RECSYS_RESULTS or ./results)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--backend", choices=("gloo", "nccl"),
                   help="under torchrun: the process group's backend (default: nccl with CUDA, else gloo)")
    _add_data_dir(p)
    p.set_defaults(func=cmd_train)

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
    p.add_argument("--seed", type=_seed, help="DARE: the dropping seed")
    p.add_argument("--dataset", help="hi_merging: the dataset whose validation split guides it")
    _add_data_dir(p)
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("bench", help="run a suite (models x datasets x seeds) and print a leaderboard")
    p.add_argument("--suite", default="quick", help="a shipped suite name or a suite TOML file")
    p.add_argument("--results", help="results store folder (default $RECSYS_RESULTS or ./results)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--data-dir")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where cells run: local processes (default) or a Ray cluster (docs/scaling.md)")
    p.add_argument("--jobs", type=_count, default=1, help="local: cells run at once, each in its own process "
                   "with cores/jobs torch threads (default 1: in this process)")
    p.add_argument("--address", help="ray: the cluster (auto, or ray://HOST:10001); default: a local Ray "
                   "instance started for this suite")
    p.add_argument("--ray-cpus-per-run", type=_count, default=1, help="ray: CPUs reserved (and torch threads) "
                   "per cell (default 1)")
    p.set_defaults(func=cmd_bench)

    llm = sub.add_parser("llm", help="LLM-side artefacts: embeddings, profiles, semantic IDs (cached)")
    lsub = llm.add_subparsers(dest="llm_command", required=True)

    def llm_parser(name, func, text):
        q = lsub.add_parser(name, help=text)
        q.add_argument("dataset")
        q.add_argument("--data-dir")
        q.set_defaults(func=func)
        return q

    q = llm_parser("embed", cmd_llm_embed, "item text embeddings")
    q.add_argument("--encoder", default="minilm", help="minilm | tfidf | st:<dir> | openai")
    q.add_argument("--base-url", help="OpenAI-compatible server (encoder openai)")
    q.add_argument("--model", help="model name on that server")
    q.add_argument("--api-key-env", default="OPENAI_API_KEY")
    q.add_argument("--limit", type=_count, help="only the first N items (a trial run; no artefact written)")
    q = llm_parser("sids", cmd_llm_sids, "semantic IDs from item embeddings (residual quantisation)")
    q.add_argument("--encoder", default="minilm")
    q.add_argument("--levels", type=_count, default=3)
    q.add_argument("--codes", type=_count, default=256)
    q.add_argument("--beam", type=_count, default=1)
    q.add_argument("--pca", type=_count, help="reduce embeddings to this many dimensions first")
    q = llm_parser("profile", cmd_llm_profile, "user profiles from training interactions")
    q.add_argument("--generator", default="openai", help="openai | transformers:<dir> | keywords (non-LLM)")
    q.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000")
    q.add_argument("--model", help="model name on that server")
    q.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the key")
    q.add_argument("--timeout", type=_positive, default=60.0)
    q.add_argument("--rate", type=float, default=0.0, help="max requests per second (0: no limit)")
    q.add_argument("--concurrency", type=_count, default=4)
    q.add_argument("--max-items", type=_count, default=20, help="most recent training items per prompt")
    q.add_argument("--kind", choices=("plain", "hierarchical", "domain"), default="plain",
                   help="hierarchical: per item-cluster notes then a summary; domain: per-domain notes")
    q.add_argument("--encoder", default="minilm", help="embeddings for --kind hierarchical")
    q.add_argument("--limit", type=_count, help="only the first N users (a trial run; no artefact written)")
    llm_parser("status", cmd_llm_status, "which artefacts exist, their backend and coverage")

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

    p = sub.add_parser("models", help="registered models (ours and RecBole's)")
    p.add_argument("--task", choices=("sequential", "general", "context", "cross_domain", "multi_scenario"))
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "command", None) == "data" and args.data_command in ("prepare", "describe"):
        if not (args.name or args.recipe):
            parser.error(f"data {args.data_command}: give a dataset NAME or --recipe FILE")
        if args.name and args.recipe:
            parser.error(f"data {args.data_command}: give a dataset NAME or --recipe FILE, not both "
                         f"({args.name!r} and {args.recipe!r})")
    if getattr(args, "command", None) == "train" and args.via == "recbole":
        ignored = [f"--{k}" for k in ("checkpoint", "results", "backbone") if getattr(args, k, None)]
        if ignored:
            parser.error(f"train --via recbole runs RecBole's own pipeline, which takes no {', '.join(ignored)}")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        hint = (": finished runs are kept; the same command resumes where it stopped"
                if getattr(args, "command", None) == "bench" else "")
        print(f"interrupted{hint}", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  (one line on stderr, exit 2; --verbose shows the traceback)
        if args.verbose and not isinstance(exc, RecsysError):
            raise
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 2


def error_line(exc: BaseException) -> str:
    """One line for stderr: our errors as they are (they name the file, key or line); an OS error with its
    file; anything unexpected with its type and a pointer to ``--verbose``."""
    if isinstance(exc, (RecsysError, ValueError)):
        text = str(exc)
    elif isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"{where}{exc.strerror or exc}"
    else:
        text = (f"{type(exc).__name__}: {exc} (unexpected; rerun with --verbose for the traceback and report it, "
                f"with the command line)")
    return " ".join(part.strip() for part in text.splitlines() if part.strip()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
