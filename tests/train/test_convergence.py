"""The convergence guard, patience from ``min_epochs``, the time budget, per-evaluation log lines and
the declared loss family, on real ml-100k runs."""

import pytest

from recsys.train.run import train_run

BPR = {"train_batch_size": 4096, "learning_rate": 1e-3, "stopping_step": 1}


def test_a_run_still_improving_at_its_cap_is_continued_from_its_state(ml100k):
    capped = train_run("BPR", ml100k, {**BPR, "epochs": 2, "progress": False}, seed=1)
    assert capped.fit["epochs_run"] == 2 and capped.fit["best_epoch"] == 2
    assert capped.fit["converged"] is False  # stopped at its cap while improving: marked, not hidden
    guarded = train_run("BPR", ml100k, {**BPR, "epochs": 2, "max_epochs": 8, "progress": False}, seed=1)
    assert guarded.fit["epochs_run"] > 2 and guarded.fit["epoch_caps"][-1] in (4, 8)
    # continued, not restarted: the first two evaluations are those of the capped run
    assert guarded.fit["valid_history"][:2] == capped.fit["valid_history"]
    if guarded.fit["converged"]:
        assert guarded.fit["stopped_early"] or guarded.fit["best_epoch"] <= guarded.fit["epoch_caps"][-1] - 1
    else:
        assert guarded.fit["epoch_caps"][-1] == 8 and guarded.fit["best_epoch"] == 8
    assert guarded.valid["ndcg@10"] >= capped.valid["ndcg@10"]


def test_patience_counts_only_from_min_epochs(ml100k):
    hot = {"train_batch_size": 4096, "learning_rate": 0.05, "stopping_step": 1, "epochs": 12, "progress": False}
    free = train_run("BPR", ml100k, hot, seed=1)
    assert free.fit["stopped_early"] and free.fit["epochs_run"] < 6
    held = train_run("BPR", ml100k, {**hot, "min_epochs": 6}, seed=1)
    assert held.fit["epochs_run"] >= 6  # no early stop before epoch 6
    assert held.fit["valid_history"][:free.fit["epochs_run"]] == free.fit["valid_history"]


def test_time_budget_stops_cleanly_with_the_best_weights(ml100k):
    r = train_run("BPR", ml100k, {**BPR, "epochs": 50, "max_minutes": 1e-4, "progress": False}, seed=1)
    assert r.status == "ok" and r.fit["stopped_by_time"] and r.fit["epochs_run"] == 1
    assert r.valid and r.fit["best_epoch"] == 1  # validated before stopping: the best state exists


def test_off_a_terminal_each_evaluation_logs_one_line(ml100k, capsys):
    train_run("BPR", ml100k, {**BPR, "epochs": 2, "eval_every": 2}, seed=1)  # progress unset, stderr not a tty
    lines = [x for x in capsys.readouterr().err.splitlines() if " epoch " in x]
    assert len(lines) == 1 and lines[0].startswith("BPR epoch 2: loss ")
    for part in ("valid ndcg@10", "best ", "s/epoch", "ETA"):
        assert part in lines[0]
    train_run("BPR", ml100k, {**BPR, "epochs": 1, "progress": False}, seed=1)
    assert " epoch " not in capsys.readouterr().err  # --quiet / progress = false: silent


@pytest.mark.parametrize("model,overrides,family", [
    ("SASRec", {"sequence_loss": "bce"}, "bce"),
    ("SASRec", {}, "softmax-ce"),
    ("BPR", {}, "bpr"),
])
def test_every_run_declares_its_loss_family(ml100k, model, overrides, family):
    small = {"hidden_size": 16, "inner_size": 32, "n_layers": 1, "n_heads": 1, "MAX_ITEM_LIST_LENGTH": 10,
             "train_batch_size": 4096} if model == "SASRec" else {"train_batch_size": 4096}
    r = train_run(model, ml100k, {**small, **overrides, "epochs": 1, "progress": False}, seed=1)
    assert r.loss_family == family and r.loss


def test_log_file_keeps_every_line_a_background_run_prints(tmp_path, capsys):
    from recsys.cli import main

    log = tmp_path / "run.log"
    assert main(["train", "--model", "BPR", "--dataset", "ml-100k", "--set", "epochs=2", "--set",
                 "train_batch_size=4096", "--results", str(tmp_path / "r"), "--log-file", str(log)]) == 0
    text = log.read_text()
    assert "BPR epoch 1: loss" in text and "BPR epoch 2: loss" in text  # the per-epoch lines
    assert "BPR on ml-100k (seed 1" in text  # and the result line


def test_sigterm_records_the_running_run_as_failed(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    results = tmp_path / "r"
    log = tmp_path / "log"
    proc = subprocess.Popen([sys.executable, "-m", "recsys", "train", "--model", "BPR", "--dataset", "ml-100k",
                             "--set", "epochs=200", "--set", "train_batch_size=4096", "--set", "stopping_step=200",
                             "--results", str(results), "--log-file", str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (log.is_file() and "epoch 2:" in log.read_text()):
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, out
    (record,) = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert record["status"] == "failed" and "SIGTERM" in record["error"] and record["fit"]["epochs_run"] >= 2
