"""``recsys data``: list, prepare, describe and derive (OOD split) datasets."""

from __future__ import annotations

import json

from recsys.cli.common import add_data_dir, dataset_arg, seed_number


def cmd_data_list(args) -> int:
    from recsys.data import available, load_recipe_file
    from recsys.data.recipe import user_recipes

    rows = []
    mine = user_recipes()
    for name, path in available().items():
        r = load_recipe_file(path)
        rows.append((name, r.task, (f"[yours: {path}] " if name in mine else "") + r.description))
    if args.json:
        print(json.dumps([dict(name=n, task=t, description=d) for n, t, d in rows], indent=2))
        return 0
    width = max((len(n) for n, _, _ in rows), default=4)
    for n, t, d in rows:
        print(f"{n:<{width}}  {t:<14}  {d}")
    return 0


def cmd_data_prepare(args) -> int:
    from recsys.data import prepare

    ds = prepare(dataset_arg(args), args.data_dir, force=args.force, download=args.download)
    s = ds.describe()
    print(f"{ds.name}: {s['users']:,} users, {s['items']:,} items, {s['interactions']:,} interactions "
          f"-> {ds.path}")
    if ds.meta.get("skipped_line_count"):
        print(f"  note: skipped {ds.meta['skipped_line_count']} malformed line(s) "
              f"(first: {ds.meta['skipped_lines'][:5]}), as the recipe allows")
    if args.export_atomic:
        from recsys.recbole.atomic_files import export_atomic

        root = export_atomic(ds)
        print(f"  RecBole atomic files: data_path={root} dataset={ds.name}")
    return 0


def cmd_data_describe(args) -> int:
    from recsys.data import prepare

    ds = prepare(dataset_arg(args), args.data_dir, download=args.download, progress=not args.json)
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

    path = ood_recipe(find_recipe(dataset_arg(args)), args.shift, args.out, args.ood, args.valid, args.test,
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


def cmd_data_add(args) -> int:
    from recsys.data.recipe import add_recipe

    recipe = add_recipe(args.file)
    print(f"registered {recipe.name!r} -> {args.file}: every command now accepts `{recipe.name}` as a dataset "
          f"(recsys data describe {recipe.name})")
    return 0


def cmd_data_remove(args) -> int:
    from recsys.data.recipe import remove_recipe

    print(f"unregistered {args.name!r} (its file {remove_recipe(args.name)} is left as it is)")
    return 0


def cmd_data_align_ids(args) -> int:
    from recsys.data.align import align_item_ids, write_id_map

    mapping, report = align_item_ids(args.a, args.b)
    path = write_id_map(mapping, args.out)
    print(f"{report['items_mapped']:,} item ids mapped from {args.a} to {args.b} -> {path} "
          f"({report['users_shared']:,} shared users, {report['users_skipped_length']:,} skipped: different lengths)")
    if report["items_conflicting"]:
        print(f"  {report['items_conflicting']:,} ids pair with several ids and are left out, e.g. "
              f"{report['conflict_examples']}")
    print(f"  use it in a recipe: [[item_text]] ... via = [{{ file = \"idmap\" }}] with [files.idmap] path = \"{path}\"")
    return 0


def check_args(parser, args) -> None:
    """``prepare`` and ``describe`` take a NAME or a --recipe FILE, exactly one."""
    if not (args.name or args.recipe):
        parser.error(f"data {args.data_command}: give a dataset NAME or --recipe FILE")
    if args.name and args.recipe:
        parser.error(f"data {args.data_command}: give a dataset NAME or --recipe FILE, not both "
                     f"({args.name!r} and {args.recipe!r})")


def add_parser(sub) -> None:
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
        add_data_dir(p)
        p.set_defaults(func=func, check=check_args)
        if name == "prepare":
            p.add_argument("--force", action="store_true", help="prepare again even if cached")
            p.add_argument("--export-atomic", action="store_true", help="also write RecBole atomic files")
        else:
            p.add_argument("--json", action="store_true", help="machine-readable output")

    p = dsub.add_parser("add", help="register your own recipe file under its name (then use the name anywhere)")
    p.add_argument("file", help="a recipe TOML file (docs/datasets.md)")
    p.set_defaults(func=cmd_data_add)
    p = dsub.add_parser("remove", help="unregister a recipe added with `recsys data add` (its file stays)")
    p.add_argument("name")
    p.set_defaults(func=cmd_data_remove)
    p = dsub.add_parser("align-ids", help="pair the item ids of two files of the same users' sequences "
                        "(e.g. integer ids and ASINs), for item text keyed by the other file's ids")
    p.add_argument("a", help="the dataset's file (uid i1 i2 ... per line)")
    p.add_argument("b", help="the same users' sequences with the other ids")
    p.add_argument("--out", required=True, help="the JSON map {id in A: id in B} to write")
    p.set_defaults(func=cmd_data_align_ids)
    p = dsub.add_parser("ood-split", help="derive a recipe with an IID split plus a shifted test_ood split")
    p.add_argument("name", nargs="?", help="a shipped dataset name (see `recsys data list`)")
    p.add_argument("--recipe", help="a recipe TOML file instead of a shipped name")
    p.add_argument("--shift", required=True, choices=("popularity", "temporal"),
                   help="popularity: OOD items drawn inversely to popularity; temporal: each user's latest share")
    p.add_argument("--ood", type=float, default=0.2, help="share of interactions in test_ood (default 0.2)")
    p.add_argument("--valid", type=float, default=0.1, help="share of the rest for IID validation (default 0.1)")
    p.add_argument("--test", type=float, default=0.2, help="share of the rest for the IID test (default 0.2)")
    p.add_argument("--seed", type=seed_number, default=2024)
    p.add_argument("--out", default=".", help="folder for the derived recipe (default: the current folder)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_data_dir(p)
    p.set_defaults(func=cmd_data_ood_split)
