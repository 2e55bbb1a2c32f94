"""Fuzzing the readers: real files, randomly mutated, read again. The only failure allowed is a
``DataError`` (which names the file); anything else would reach the user as a traceback.

Seeded and deterministic: ``ITERATIONS`` mutations per reader (``RECSYS_FUZZ_ITERATIONS`` raises it).
"""

import json
import os
import random
from pathlib import Path

import polars as pl
import pytest

from recsys.data import readers
from recsys.data import schema as S
from recsys.errors import DataError
from tests.conftest import REPO

ITERATIONS = int(os.environ.get("RECSYS_FUZZ_ITERATIONS", "150"))
JUNK = [b"\x00", b"\xff\xfe", b"\t", b",", b"\n", b"|", b"::", b" ", b"-1", b"nan", b"1e999", b'"', b"\xc3", b"abc",
        b"\r\n", b"#", b"0"]


def mutate(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    kind = rng.randrange(9)
    if kind == 0 and data:  # delete a byte range
        a = rng.randrange(len(data))
        return data[:a] + data[a + rng.randrange(1, 40):]
    if kind == 1:  # insert junk
        a = rng.randrange(len(data) + 1)
        return data[:a] + rng.choice(JUNK) * rng.randrange(1, 4) + data[a:]
    if kind == 2:  # duplicate lines
        i = rng.randrange(len(lines))
        return b"\n".join(lines[:i] + [lines[i]] * rng.randrange(2, 5) + lines[i:])
    if kind == 3:  # a word where a number was
        i = rng.randrange(len(lines))
        parts = lines[i].replace(b"\t", b" ").replace(b",", b" ").split(b" ")
        parts[rng.randrange(len(parts))] = b"xyz"
        lines[i] = b" ".join(parts)
        return b"\n".join(lines)
    if kind == 4:  # truncate
        return data[: rng.randrange(len(data) + 1)]
    if kind == 5:
        return b""
    if kind == 6:  # other delimiters
        return data.replace(b",", b"\t") if rng.random() < 0.5 else data.replace(b"\t", b",")
    if kind == 7:  # drop the first line (a header, or a record)
        return b"\n".join(lines[1:])
    return bytes(b ^ 0x20 if rng.random() < 0.01 else b for b in data)  # flip some case bits


def _head(path: Path, n: int) -> bytes:
    with open(path, "rb") as fh:
        return b"".join(fh.readline() for _ in range(n))


def cases(shared: Path | None):
    """(reader format, sample bytes, reader options)."""
    ml = REPO / "recsys" / "recipes" / "ml-100k"
    out = [("atomic", _head(ml / "ml-100k.inter", 300), {}),
           ("dat", b"".join(b"::".join(line.split(b"\t")) + b"\n" for line in _head(ml / "ml-100k.inter", 300)
                            .splitlines()[1:]), {"names": ["user_id", "item_id", "rating", "timestamp"],
                                                "columns": {"user_id": "user_id", "item_id": "item_id",
                                                            "rating": "rating", "timestamp": "timestamp"}})]
    if shared is not None:
        out += [
            ("s3rec_lines", _head(shared / "seq_s3rec/ICLRec/data/Beauty.txt", 200), {}),
            ("selfrec", _head(shared / "graph_ood/DRGO/data_for_SELFRec/food/train.txt", 300), {}),
            ("tricdr", _head(shared / "cross_domain/Tri-CDR/Dataset/toy_log_file_final.tsv", 60), {}),
            ("csv", _head(shared / "movielens/lenskit/data/ml-latest-small/ratings.csv", 300),
             {"columns": {"user_id": "userId", "item_id": "movieId", "rating": "rating", "timestamp": "timestamp"}}),
            ("abxi", _head(shared / "cross_domain/ABXI/data/afk/afk_50_preprocessed.txt", 40),
             {"item_map": shared / "cross_domain/ABXI/data/afk/map_item_50.txt", "domains": ["food", "kitchen"]}),
        ]
    return out


@pytest.fixture(scope="module")
def shared_or_none():
    from tests.conftest import SHARED

    return SHARED if (SHARED / "MANIFEST.md").is_file() else None


def test_mutated_real_files_read_or_fail_with_a_named_data_error(tmp_path, shared_or_none):
    outcomes = {}
    for fmt, sample, options in cases(shared_or_none):
        rng = random.Random(f"fuzz-{fmt}")
        ok = named = 0
        for i in range(ITERATIONS):
            path = tmp_path / f"{fmt}-{i}.txt"
            path.write_bytes(mutate(sample, rng))
            try:
                df = readers.read_interactions(fmt, path, **options)
            except DataError as exc:
                assert str(path) in str(exc), f"{fmt}: error does not name the file: {exc}"
                named += 1
            except Exception as exc:  # noqa: BLE001
                pytest.fail(f"{fmt} reader crashed on mutation {i} ({path}): {type(exc).__name__}: {exc}")
            else:
                assert {S.USER, S.ITEM, S.ORDER} <= set(df.columns) and len(df) > 0
                assert df[S.USER].dtype == pl.String and df[S.ITEM].dtype == pl.String
                ok += 1
        outcomes[fmt] = {"read": ok, "clear error": named}
    (tmp_path / "fuzz-outcomes.json").write_text(json.dumps(outcomes))
    print("fuzz outcomes per reader:", outcomes)
    assert all(v["read"] + v["clear error"] == ITERATIONS for v in outcomes.values())
