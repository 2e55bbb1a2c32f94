"""``recsys doctor``: versions, compatibility patches, optional dependencies, data folder."""

from __future__ import annotations

import json


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


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="versions, compatibility patches, threads, data folder")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)
