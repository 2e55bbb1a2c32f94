"""``recsys models``: the registered models, ours and RecBole's."""

from __future__ import annotations

from recsys.models.registry import TASKS


def cmd_models(args) -> int:
    from recsys.models import list_models
    from recsys.recbole.availability import why_unavailable

    if args.model:  # one model: every key it accepts, with default, type and meaning
        from recsys.train.keys import describe_keys

        print(describe_keys(args.model))
        return 0

    for spec in list_models(args.task):
        flag = " [full-sequence objective]" if spec.full_sequence else ""
        flag += f" [run type: {spec.run_type}]" if spec.run_type != "train" else ""
        missing = why_unavailable(spec.name) if spec.source == "recbole" else None
        flag += f" [{missing}]" if missing else ""
        print(f"{spec.name:<16} {spec.task:<12} {spec.source:<8} {spec.description}{flag}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="registered models (ours and RecBole's); with a name, every key it accepts")
    p.add_argument("model", nargs="?", help="a model: print its keys, defaults, types, search space and the "
                   "trainer's keys")
    p.add_argument("--task", choices=TASKS)
    p.set_defaults(func=cmd_models)
