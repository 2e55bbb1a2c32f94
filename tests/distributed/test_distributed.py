"""DDP under torchrun with two CPU processes (gloo) against one process, on ml-100k.

Tolerances: the two-process run follows the same batches and random draws as one process, so it
differs only by floating-point summation order (gradients averaged across ranks): epoch losses
agree to 1e-4 relative and test metrics to 1e-3 absolute (measured: about 1e-5). Evaluation of a
fixed model is exact: every per-user vector and every catalogue metric (coverage, Gini) equal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recsys import distributed
from recsys.distributed import DistInfo, Shard, block

HERE = Path(__file__).parent
METRICS = ("ndcg@10", "recall@10", "mrr@10", "hit@10", "ndcg@20", "recall@20")


def torchrun(args: list[str], tmp_path: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def test_shares_partition_the_rows_and_their_weights_average_to_the_global_mean():
    for n in (1, 2, 7, 943):
        for world in (1, 2, 3, 4):
            parts = [block(n, DistInfo(rank=r, world_size=world)) for r in range(world)]
            covered = [i for p in parts for i in range(p.start, p.stop)]
            assert covered == list(range(n))  # contiguous, in rank order, nothing twice
            assert max(p.stop - p.start for p in parts) - min(p.stop - p.start for p in parts) <= 1
    weights = np.array([3, 1, 4, 1, 5, 9, 2], dtype=float)
    losses = np.array([0.3, 0.1, 0.7, 0.2, 0.9, 0.4, 0.5])  # per row, mean over its targets
    global_mean = (weights * losses).sum() / weights.sum()
    for world in (2, 3):
        shards = [Shard.of(len(weights), __import__("torch").tensor(weights), DistInfo(r, world)) for r in range(world)]
        local_means = [(weights[s.rows] * losses[s.rows]).sum() / weights[s.rows].sum() for s in shards]
        # DDP averages over ranks: mean_r(scale_r * local mean_r) is the global batch's mean
        assert np.mean([s.scale * m for s, m in zip(shards, local_means)]) == pytest.approx(global_mean)
    empty = Shard.of(1, info=DistInfo(rank=1, world_size=2))
    assert empty.scale == 0 and empty.n_local == 0 and empty.rows == slice(0, 1)


def test_outside_torchrun_everything_is_one_process():
    assert not distributed.current().active and distributed.current().is_main
    rows = np.arange(5)
    assert distributed.all_gather_array(rows) is rows and distributed.all_reduce_sum(2.5) == 2.5


@pytest.mark.slow
def test_two_gloo_ranks_evaluate_exactly_as_one_process(tmp_path, ml100k):
    from recsys.data import prepare
    from recsys.data.context_tensors import tensors_for
    from recsys.eval.protocol import evaluate_task

    sys.path.insert(0, str(HERE))
    from eval_worker import ctr_scorer, ranking_scorer

    torchrun([str(HERE / "eval_worker.py"), str(tmp_path / "out.json")], tmp_path)
    got = json.loads((tmp_path / "out.json").read_text())
    assert got["world_size"] == 2 and got["backend"] == "gloo"
    t = tensors_for(ml100k)
    one = evaluate_task(ranking_scorer(t), t, "test", (5, 10, 20), "pessimistic", batch_size=100)
    two = got["ranking"]
    assert two["users"] == one.users.tolist()  # every user once, in the one-process order
    for k, v in one.per_user.items():
        assert two["per_user"][k] == v.tolist(), k
    for k in ("item_coverage@10", "item_coverage@20", "gini@10", "avg_popularity@10"):
        assert two["summary"][k] == one.summary[k], k  # catalogue metrics need every rank's top-k
    assert two["summary"] == one.summary and two["repeated_targets"] == one.repeated_targets
    ctr = prepare("ms-ml-100k", progress=False)
    assert got["ctr"]["summary"] == evaluate_task(ctr_scorer, tensors_for(ctr), "test", batch_size=1000).summary


def _one_process(ml100k, model: str, overrides: dict):
    from recsys.train.run import train_run

    result = train_run(model, ml100k, {**overrides, "threads": 1, "progress": False}, seed=3)
    assert result.status == "ok", result.error
    return result


@pytest.mark.slow
@pytest.mark.parametrize("model,overrides", [
    ("SASRec", {"epochs": 2, "hidden_size": 32, "inner_size": 64, "n_layers": 1, "hidden_dropout_prob": 0.0,
                "attn_dropout_prob": 0.0}),  # full-sequence CE
    ("BPR", {"epochs": 3, "train_batch_size": 1024}),  # pairwise, negatives drawn for the global batch
])
def test_two_gloo_processes_train_like_one_process(tmp_path, ml100k, model, overrides):
    args = ["-m", "recsys", "train", "--model", model, "--dataset", "ml-100k", "--seed", "3", "--quiet",
            "--results", str(tmp_path / "store"), "--checkpoint", str(tmp_path / "ckpt"), "--backend", "gloo"]
    for k, v in {**overrides, "threads": 1}.items():
        args += ["--set", f"{k}={v}"]
    out = torchrun(args, tmp_path)
    assert out.stdout.count("result:") == 1  # rank 0 alone reports and stores
    records = list((tmp_path / "store" / "runs").glob("*.json"))
    assert len(records) == 1
    two = json.loads(records[0].read_text())
    assert two["provenance"]["executor"]["kind"] == "torchrun"
    assert two["fit"]["distributed"] == {"backend": "gloo", "world_size": 2}
    one = _one_process(ml100k, model, overrides)
    np.testing.assert_allclose(two["fit"]["losses"], one.fit["losses"], rtol=1e-4)
    assert two["fit"]["train_targets"] == one.fit["train_targets"]  # every target once per epoch
    for k in METRICS:
        assert abs(two["test"]["test"][k] - one.metric(k)) < 1e-3, (k, two["test"]["test"][k], one.metric(k))
    assert abs(two["test"]["test"]["item_coverage@10"] - one.metric("item_coverage@10")) < 0.02
    import torch

    assert sorted(p.name for p in tmp_path.glob("ckpt*")) == ["ckpt.json", "ckpt.pt"]  # one writer: rank 0
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert json.loads((tmp_path / "ckpt.json").read_text())["model"] == model
    assert not any(k.startswith("module.") for k in state)  # the model's own names, not DDP's wrapper
