"""The periodic-update protocol on ml-100k: periods, shared checkpoints, strategies, and `recsys merge`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from recsys.bench.runner import run_suite
from recsys.bench.store import ResultsStore
from recsys.bench.suite import load_suite
from recsys.data import schema as S
from recsys.data.tensors import DatasetTensors
from recsys.merging.methods import MergeError, ties
from recsys.merging.periodic import split_periods
from tests.conftest import write

SUITE = """
name = "merging-test"
datasets = ["ml-100k"]
seeds = [1]
[defaults]
model = "Merge"
backbone = "SASRec"
periods = 3
epochs = 1
hidden_size = 16
inner_size = 32
n_layers = 1
n_heads = 1
threads = 1
[models.Retrain]
method = "retrain"
[models.Latest]
method = "latest"
[models.TIES]
method = "ties"
merge_density = 0.5
[models.OPCM]
method = "opcm"
"""


def test_periods_partition_the_training_interactions_in_time_order(ml100k):
    t = DatasetTensors(ml100k)
    parts = split_periods(t, 4)
    assert sum(int(p.train.lengths.sum()) for p in parts) == int(t.train.lengths.sum())
    frame = t.train_frame
    times = frame[S.TIME].to_numpy()
    cuts = np.quantile(times, [0.25, 0.5, 0.75], method="lower")
    sizes = [int((times <= cuts[0]).sum()), int(((times > cuts[0]) & (times <= cuts[1])).sum())]
    assert [int(p.train.lengths.sum()) for p in parts[:2]] == sizes
    assert parts[2].history("valid") is t.train  # evaluation inputs stay the full data
    with pytest.raises(MergeError, match="periods must be >= 2"):
        split_periods(t, 1)


@pytest.fixture(scope="module")
def merged_suite(tmp_path_factory, ml100k):
    root = tmp_path_factory.mktemp("merging")
    suite = load_suite(write(root / "s.toml", SUITE))
    records = {r["model"]: r for r in run_suite(suite, ResultsStore(root / "store"), progress=False,
                                                  echo=lambda *_: None)}
    return root, records


@pytest.mark.slow
def test_strategies_share_one_set_of_period_checkpoints(merged_suite):
    _, records = merged_suite
    assert {m: r["status"] for m, r in records.items()} == dict.fromkeys(("Retrain", "Latest", "TIES", "OPCM"), "ok")
    assert set(records["Latest"]["fit"]["trained_now"]) == {"period1-base", "period2-finetune", "period3-finetune"}
    assert records["TIES"]["fit"]["trained_now"] == {} and records["OPCM"]["fit"]["trained_now"] == {}
    assert records["Latest"]["fit"]["checkpoints"] == records["TIES"]["fit"]["checkpoints"]
    ndcg = {m: r["test"]["test"]["ndcg@10"] for m, r in records.items()}
    assert len(set(ndcg.values())) == 4  # four different models
    assert records["Retrain"]["objective"] != "periodic" and records["TIES"]["objective"] == "periodic"


@pytest.mark.slow
def test_recsys_merge_writes_what_the_method_computes_and_refuses_other_item_spaces(merged_suite, tmp_path, capsys):
    from recsys.cli import main
    from recsys.train.checkpoint import read_state

    _, records = merged_suite
    from pathlib import Path

    folder = Path(records["TIES"]["fit"]["checkpoints"])
    base, p2, p3 = (folder / n for n in ("period1-base", "period2-finetune", "period3-finetune"))
    out = tmp_path / "merged"
    code = main(["merge", "--method", "ties", "--base", str(base), "--models", str(p2), str(p3), "--out", str(out),
                 "--density", "0.3"])
    assert code == 0, capsys.readouterr().err
    expected = ties(read_state(base), [read_state(p2), read_state(p3)], density=0.3)
    got = read_state(out)
    assert set(got) == set(expected) and all(torch.equal(got[k], expected[k]) for k in got)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["merged"]["method"] == "ties" and meta["item_space"]
    other = tmp_path / "other"
    other.with_suffix(".pt").write_bytes(p3.with_suffix(".pt").read_bytes())
    other.with_suffix(".json").write_text(json.dumps({**meta, "item_space": "0000"}))
    capsys.readouterr()
    code = main(["merge", "--method", "task_arithmetic", "--base", str(base), "--models", str(p2), str(other),
                 "--out", str(tmp_path / "x")])
    assert code == 2 and "different item spaces" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    code = main(["merge", "--method", "hi_merging", "--base", str(base), "--models", str(p2), "--out",
                 str(tmp_path / "y")])
    assert code == 2 and "give --dataset" in capsys.readouterr().err
