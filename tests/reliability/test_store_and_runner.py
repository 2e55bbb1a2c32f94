"""Crash safety of the results store and the suite runner: locks, atomic writes, failed runs, resume."""

import json
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import time

import polars as pl
import pytest

from recsys.bench.runner import run_suite
from recsys.bench.store import ResultsStore
from recsys.bench.suite import load_suite
from recsys.errors import RecipeError
from recsys.io.safe_write import atomic_write


def _writer(root, who, n):
    store = ResultsStore(root)
    for k in range(n):
        rid = f"{who}-{k}"
        record = {"run_id": rid, "model": who, "dataset": "d", "seed": k, "status": "ok",
                  "test": {"test": {"ndcg@10": k / n}},
                  "provenance": {"config_hash": "c", "dataset_fingerprint": "f", "git_commit": "g",
                                 "tie_policy": "pessimistic", "llm_backends": {}}}
        store.save(record, {"test": pl.DataFrame({"user_idx": list(range(50)), "ndcg@10": [k / n] * 50})})
        if k % 10 == 0:
            store.consolidate()


def test_two_processes_writing_one_store_lose_nothing(tmp_path):
    ctx = mp.get_context("spawn")  # fork would copy polars' thread pool mid-state (a known deadlock)
    procs = [ctx.Process(target=_writer, args=(tmp_path / "store", who, 30)) for who in ("A", "B")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)
        assert p.exitcode == 0
    store = ResultsStore(tmp_path / "store")
    records = store.records()
    assert sorted(r["run_id"] for r in records) == sorted(f"{w}-{k}" for w in "AB" for k in range(30))
    assert len(store.consolidate()) == 60
    assert not list((tmp_path / "store").rglob("*.tmp-*"))
    assert all(len(store.per_user(r["run_id"])) == 50 for r in records)


def test_a_failed_write_leaves_the_old_file_and_no_debris(tmp_path):
    target = tmp_path / "r.json"
    target.write_text('{"old": true}')

    def broken(path):
        with open(path, "w") as fh:
            fh.write('{"half')
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write(target, broken)
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


SUITE = """name = "crash"
datasets = ["ms-ml-100k"]
seeds = [1]
[defaults]
epochs = 1
learning_rate = 0.005
[models.LR]
[models.Diverges]
model = "SharedBottom"
learning_rate = 1e30
[models.CannotStart]
model = "MMoE"
embedding_size = -4
[models.SharedBottom]
"""


def test_failed_runs_are_recorded_and_the_suite_goes_on(tmp_path):
    path = tmp_path / "crash.toml"
    path.write_text(SUITE)
    store = ResultsStore(tmp_path / "store")
    records = {r["model"]: r for r in run_suite(load_suite(str(path)), store, echo=lambda *_: None)}
    assert records["LR"]["status"] == "ok" and records["SharedBottom"]["status"] == "ok"  # after the failures
    assert records["Diverges"]["status"] == "failed" and re.search(r"loss is (nan|inf)", records["Diverges"]["error"])
    assert records["CannotStart"]["status"] == "failed" and records["CannotStart"]["error"]
    assert "Traceback" in records["CannotStart"]["fit"]["traceback"]
    # a re-run redoes only the failed cells
    seen = []
    run_suite(load_suite(str(path)), store, echo=seen.append)
    assert sum("done earlier" in line for line in seen) == 2
    assert len(list((tmp_path / "store" / "runs").glob("*.json"))) == 4


def test_an_unknown_model_stops_the_suite_before_anything_runs(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(SUITE.replace('[models.SharedBottom]', '[models.ShardBottom]'))
    with pytest.raises(RecipeError, match="models.ShardBottom"):
        run_suite(load_suite(str(path)), ResultsStore(tmp_path / "store"), echo=lambda *_: None)
    assert not list((tmp_path / "store" / "runs").glob("*.json"))


def test_ctrl_c_keeps_finished_runs_and_the_same_command_resumes(tmp_path):
    suite = tmp_path / "long.toml"
    suite.write_text('name = "long"\ndatasets = ["ms-ml-100k"]\nseeds = [1, 2, 3, 4]\n'
                     '[defaults]\nepochs = 3\n[models.LR]\n')
    cmd = [sys.executable, "-m", "recsys.cli", "bench", "--suite", str(suite), "--results", str(tmp_path / "s"),
           "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = tmp_path / "s" / "runs"
    deadline = time.time() + 120
    while time.time() < deadline and not (runs.is_dir() and list(runs.glob("*.json"))):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the suite finished before the interrupt arrived")
    assert proc.returncode == 130 and "resumes" in err
    kept = {p.name for p in runs.glob("*.json")}
    assert 1 <= len(kept) < 4
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("done earlier, skipped") == len(kept)
    records = ResultsStore(tmp_path / "s").records()
    assert len(records) == 4 and len({r["run_id"] for r in records}) == 4


def test_an_interrupted_leaderboard_keeps_the_previous_page(tmp_path, monkeypatch):
    """The disk fills while the HTML page is written: the previous page stays whole, no debris."""
    from pathlib import Path

    from recsys.report.publish import write_leaderboard
    from tests.report.constructed import make_store

    store = make_store(tmp_path, {"Better": 0.02})
    write_leaderboard(store, tmp_path / "lb", "t", "Base", metrics=("ndcg@10",))
    before = (tmp_path / "lb" / "t.html").read_text()
    real = Path.write_text

    def half_then_full(self, text, *args, **kwargs):
        if self.name.startswith("t.html"):
            real(self, text[: len(text) // 2], *args, **kwargs)
            raise OSError(28, "No space left on device")
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", half_then_full)
    with pytest.raises(OSError, match="No space"):
        write_leaderboard(store, tmp_path / "lb", "t", "Base", metrics=("ndcg@10",))
    assert (tmp_path / "lb" / "t.html").read_text() == before
    assert not list((tmp_path / "lb").rglob("*.tmp-*"))


def test_debris_of_killed_writers_is_removed_and_live_writers_are_left(tmp_path):
    store = ResultsStore(tmp_path / "store")
    dead = tmp_path / "store" / "runs" / "X-s1-abc.json.tmp-999999999"  # no such process
    live = tmp_path / "store" / "runs" / f"Y-s1-abc.json.tmp-{os.getpid()}"
    dead.write_text("{half")
    live.write_text("{being written")
    assert store.remove_debris() == 1
    assert not dead.exists() and live.exists()
    assert store.records() == []  # temporary files are never read as records
