"""recsys tune: a study in the results store that survives kill -9 and resumes; validation data only."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from recsys.errors import ConfigError
from recsys.tune.spaces import search_space
from recsys.tune.study import trial_records, tune

FAST = {"epochs": 3, "train_batch_size": 4096}


def _cmd(results, trials):
    return [sys.executable, "-m", "recsys", "tune", "--model", "BPR", "--dataset", "ml-100k", "--trials",
            str(trials), "--results", str(results), "--set", "epochs=3", "--set", "train_batch_size=4096",
            "--pruner", "none"]


def test_kill_9_loses_at_most_the_running_trial_and_the_same_command_resumes(tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_cmd(results, 6), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while time.time() < deadline:  # kill as soon as two trials are on disk: the third is running
        done = list((results / "tuning").glob("*/trial-*.json")) if (results / "tuning").is_dir() else []
        if len(done) >= 2:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name for p in (results / "tuning").glob("*/trial-*.json")}
    assert 2 <= len(before) < 6
    out = subprocess.run(_cmd(results, 6), env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    studies = [p for p in (results / "tuning").iterdir() if p.is_dir()]
    assert len(studies) == 1  # the same study, resumed
    records = trial_records(results, studies[0].name)
    finished = [r for r in records if r["state"] in ("complete", "pruned")]
    states = [(r["trial"], r["state"]) for r in records]
    assert len(finished) == 6 and "after 6 trials" in out.stdout, (states, out.stdout)
    assert before <= {f"trial-{r['trial']:04d}.json" for r in records}  # nothing written before was lost
    # at most the one running trial was lost (a killed trial is marked failed and not counted)
    assert max(r["trial"] for r in records) - len(finished) <= 1, states
    assert "lost to a killed run" in out.stdout or len(records) == 6


def test_trials_read_validation_only_and_record_their_curve(ml100k, tmp_path, monkeypatch):
    import recsys.train.run as run_module

    phases = []
    real = run_module.evaluate_task

    def spy(score_fn, tensors, phase, *args, **kwargs):
        phases.append(phase)
        return real(score_fn, tensors, phase, *args, **kwargs)

    monkeypatch.setattr("recsys.train.trainer.evaluate_task", spy)
    r = tune("BPR", ml100k, FAST, 3, tmp_path, pruner="none", progress=False)
    assert set(phases) == {"valid"} and r.trials == 3 and r.complete == 3
    recs = trial_records(tmp_path, r.study)
    assert [len(x["valid_history"]) for x in recs] == [3, 3, 3]
    assert r.best_value == max(x["value"] for x in recs)
    assert r.best_params == next(x["params"] for x in recs if x["value"] == r.best_value)
    again = tune("BPR", ml100k, FAST, 3, tmp_path, pruner="none", progress=False)  # a finished study runs nothing
    assert again.trials == 3 and len(trial_records(tmp_path, r.study)) == 3
    assert json.loads(json.dumps(r.as_record()))["trials"] == 3


def test_search_spaces_are_declared_and_checked():
    assert "learning_rate" in search_space("SASRec") and "learning_rate" in search_space("H2Rec")
    assert set(search_space("DeepFM")) >= {"learning_rate", "dropout_prob"}
    assert "embedding_size" in search_space("STAR")
    with pytest.raises(ConfigError, match="search space key 'learning_rate'"):
        search_space("BPR", {"learning_rate": ["log", 0.0, 1e-2]})


def test_ray_workers_share_one_study_and_its_budget(ml100k, tmp_path):
    """--executor ray: two workers write to the same study database; together they finish the budget
    (counting each other's running trials, so it is not overshot by more than the workers started)."""
    pytest.importorskip("ray")
    lines = []
    quick = {**FAST, "epochs": 1}
    r = tune("BPR", ml100k, quick, 3, tmp_path, pruner="none", progress=False, jobs=2, executor="ray",
             echo=lines.append)
    recs = trial_records(tmp_path, r.study)
    assert 3 <= r.trials <= 4 and r.complete == r.trials, (r, lines)
    assert sum(int(x.split(": ")[1].split()[0]) for x in lines if x.startswith("  ray worker")) == r.trials
    assert len({json.dumps(x["params"], sort_keys=True) for x in recs}) == len(recs)  # workers sample apart
    again = tune("BPR", ml100k, quick, 3, tmp_path, pruner="none", progress=False, jobs=2, executor="ray")
    assert again.trials == r.trials  # a finished study starts no worker trial


def test_the_pruner_waits_for_min_epochs():
    from recsys.tune.study import _pruner

    assert _pruner("median", 20, 5)._n_warmup_steps == 5
    assert _pruner("hyperband", 20, 5)._min_resource == 5
