"""``recsys models``: the registered models, ours and RecBole's."""

from __future__ import annotations


def cmd_models(args) -> int:
    from recsys.models import list_models

    for spec in list_models(args.task):
        flag = " [full-sequence objective]" if spec.full_sequence else ""
        print(f"{spec.name:<16} {spec.task:<12} {spec.source:<8} {spec.description}{flag}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="registered models (ours and RecBole's)")
    p.add_argument("--task", choices=("sequential", "general", "context", "cross_domain", "multi_scenario"))
    p.set_defaults(func=cmd_models)
