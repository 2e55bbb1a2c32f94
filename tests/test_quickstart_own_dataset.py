"""docs/quickstart.md's "your own dataset, start to finish", run verbatim: its files and commands are read
from the page, on a small one-user-per-line file made from the embedded MovieLens 100K."""

import re
import shlex
from pathlib import Path

import polars as pl
import pytest

from recsys.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "quickstart.md"


def _blocks(text: str):
    return re.findall(r"```(\S+)(?: (\S+))?\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
def test_the_own_dataset_walkthrough_runs_verbatim(tmp_path, monkeypatch, capsys):
    from recsys.data import prepare

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECSYS_CACHE", str(tmp_path / "cache"))
    # the user's file: 150 MovieLens users, one per line, items in time order
    inter = prepare("ml-100k", progress=False).interactions.sort("user_idx", "timestamp")
    users = inter.group_by("user_id", maintain_order=True).agg(pl.col("item_id")).head(150)
    (tmp_path / "toys").mkdir()
    (tmp_path / "toys" / "toys.txt").write_text(
        "".join(f"{u} {' '.join(items)}\n" for u, items in users.iter_rows()))
    blocks = _blocks(DOC.read_text(encoding="utf-8"))
    files = {tag[len("file="):]: body for lang, tag, body in blocks if tag.startswith("file=")}
    assert set(files) == {"toys/toys.toml", "toys/suite.toml"}
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    (commands,) = [body for lang, tag, body in blocks if tag == "own-dataset"]
    (tmp_path / "results").mkdir()
    for line in commands.strip().splitlines():
        argv = shlex.split(line)
        assert argv[0] == "recsys"
        assert main(argv[1:]) == 0, f"failed: {line}\n{capsys.readouterr().err}"
    board = (tmp_path / "results" / "leaderboard" / "toys-suite.md").read_text()
    assert "MostPop (baseline)" in board and "| 3 |" in board  # the suite's baseline, 3 trials per tuned row
    assert "epoch 1:" in (tmp_path / "results" / "train.log").read_text()
    assert (tmp_path / "results" / "leaderboard" / "claims.md").is_file()
