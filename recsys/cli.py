"""The ``recsys`` command. Argument parsing and printing only: the work lives in the packages."""

from __future__ import annotations

import argparse
import json
import logging
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


def cmd_demo(args) -> int:
    from recsys.demo import run_demo

    run_demo(quick=args.quick)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recsys", description="Recommender-systems benchmark toolkit.")
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

    p = sub.add_parser("doctor", help="versions, compatibility patches, threads, data folder")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    perf = sub.add_parser("perf", help="side-by-side speed measurements against RecBole")
    psub = perf.add_subparsers(dest="perf_command", required=True)
    p = psub.add_parser("prepare", help="data preparation: recsys vs RecBole create_dataset + data_preparation")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--model", default="SASRec", help="RecBole model whose data preparation is timed")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_perf_prepare)

    p = sub.add_parser("demo", help="prepare ml-100k and run RecBole baselines through the bridge")
    p.add_argument("--quick", action="store_true", help="fewer epochs")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "command", None) == "data" and args.data_command in ("prepare", "describe"):
        if not (args.name or args.recipe):
            parser.error(f"data {args.data_command}: give a dataset NAME or --recipe FILE")
    try:
        return args.func(args)
    except RecsysError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
