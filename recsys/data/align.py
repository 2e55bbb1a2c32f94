"""Aligning item ids between two files of the same users' sequences.

Public copies of one dataset often disagree on item ids: one file numbers items 1..n, another
keeps the original ASINs, and the item text comes keyed by the second. When both files hold the
same users' sequences in the same order (``uid i1 i2 ...`` per line), position k of a user's
sequence in one is position k in the other: that pairs the ids. Users whose sequences differ in
length are skipped; an id paired with two different ids is a conflict and is reported, not
guessed. The result is a JSON map usable as a recipe's ``[[item_text]] via`` hop.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from recsys.errors import DataError


def _sequences(path: Path) -> dict[str, list[str]]:
    out = {}
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            tokens = line.split()
            if not tokens:
                continue
            if len(tokens) < 2:
                raise DataError(f"malformed line {line.strip()!r}: expected 'user item [item ...]'", path=path, line=n)
            out[tokens[0]] = tokens[1:]
    return out


def align_item_ids(path_a: str | Path, path_b: str | Path) -> tuple[dict[str, str], dict]:
    """({id in A: id in B}, report): ids paired by position in the users both files share."""
    a, b = _sequences(Path(path_a)), _sequences(Path(path_b))
    shared = [u for u in a if u in b]
    if not shared:
        raise DataError(f"no user id appears in both {path_a} and {path_b}; the files must hold the same users")
    votes: dict[str, Counter] = {}
    skipped = 0
    for user in shared:
        if len(a[user]) != len(b[user]):
            skipped += 1
            continue
        for x, y in zip(a[user], b[user]):
            votes.setdefault(x, Counter())[y] += 1
    mapping, conflicts = {}, {}
    for x, counter in votes.items():
        (best, count), *rest = counter.most_common()
        if rest:
            conflicts[x] = dict(counter)
        else:
            mapping[x] = best
    report = {"users_in_a": len(a), "users_in_b": len(b), "users_shared": len(shared),
              "users_skipped_length": skipped, "items_mapped": len(mapping), "items_conflicting": len(conflicts),
              "conflict_examples": dict(list(conflicts.items())[:5])}
    return mapping, report


def write_id_map(mapping: dict[str, str], out: str | Path) -> Path:
    from recsys.io.safe_write import atomic_write

    path = Path(out)
    atomic_write(path, lambda p: p.write_text(json.dumps(mapping, indent=0, sort_keys=True), encoding="utf-8"))
    return path
