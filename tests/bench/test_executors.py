"""Executors: a local process pool and a local Ray instance give the same records as one process."""

from __future__ import annotations

import pytest

from recsys.bench.executors import ExecutorError, LocalExecutor, make_executor
from recsys.bench.runner import run_suite
from recsys.bench.store import ResultsStore
from recsys.bench.suite import Suite, load_suite
from tests.conftest import write

# threads = 1: a cell computes the same numbers in this process and in a worker
SMALL = Suite(name="exec", datasets=["ml-100k"], seeds=[1, 2], defaults={"threads": 1},
              models={"MostPop": {}, "BPR": {"epochs": 2, "train_batch_size": 4096}})


def _by_cell(records):
    return {(r["model"], r["seed"]): r for r in records}


@pytest.fixture(scope="module")
def in_process(tmp_path_factory, ml100k):
    return _by_cell(run_suite(SMALL, ResultsStore(tmp_path_factory.mktemp("one")), progress=False,
                              echo=lambda *_: None))


@pytest.mark.slow
def test_two_local_jobs_store_the_same_results_and_record_the_executor(tmp_path, in_process):
    lines = []
    store = ResultsStore(tmp_path / "store")
    got = _by_cell(run_suite(SMALL, store, progress=False, echo=lines.append, executor=LocalExecutor(jobs=2)))
    assert set(got) == set(in_process) and len(got) == 4
    for cell, rec in got.items():
        assert rec["status"] == "ok"
        assert rec["run_id"] == in_process[cell]["run_id"]  # the executor is not part of a run's identity
        assert rec["test"]["test"]["ndcg@10"] == in_process[cell]["test"]["test"]["ndcg@10"], cell
        assert rec["provenance"]["executor"]["kind"] == "local" and rec["provenance"]["executor"]["jobs"] == 2
        assert rec["config"]["threads"] == 1
    assert in_process[("BPR", 1)]["provenance"]["executor"]["jobs"] == 1
    assert sum("NDCG@10" in line for line in lines) == 4
    again = []
    run_suite(SMALL, store, progress=False, echo=again.append, executor=LocalExecutor(jobs=2))
    assert sum("done earlier, skipped" in line for line in again) == 4


TTA_SUITE = """
name = "tta-pool"
datasets = ["ml-100k"]
seeds = [1]
[defaults]
epochs = 1
threads = 1
[models.SASRec]
hidden_size = 32
n_layers = 1
n_heads = 1
[models."TTA4SR(SASRec)"]
model = "TTA4SR"
backbone = "SASRec"
operator = "TMask-R"
tta_copies = 2
[models.MostPop]
"""


@pytest.mark.slow
def test_tta_entries_run_after_their_backbone_in_another_process(tmp_path):
    suite = load_suite(write(tmp_path / "s.toml", TTA_SUITE))
    records = _by_cell(run_suite(suite, ResultsStore(tmp_path / "store"), progress=False, echo=lambda *_: None,
                                 executor=LocalExecutor(jobs=2)))
    assert {m for m, _ in records} == {"SASRec", "TTA4SR(SASRec)", "MostPop"}
    tta, backbone = records[("TTA4SR(SASRec)", 1)], records[("SASRec", 1)]
    # the TTA4SR cell read the weights the SASRec cell wrote from its own worker
    assert tta["fit"]["inference"]["test"]["backbone_ndcg@10"] == pytest.approx(backbone["test"]["test"]["ndcg@10"])


@pytest.mark.slow
def test_ray_executor_runs_a_suite_on_a_local_ray_instance(tmp_path, in_process):
    pytest.importorskip("ray")
    from recsys.bench.executors import RayExecutor

    suite = Suite(name=SMALL.name, datasets=SMALL.datasets, seeds=[1], defaults=SMALL.defaults, models=SMALL.models)
    executor = RayExecutor(address=None, cpus_per_run=1, num_cpus=2)
    try:
        got = _by_cell(run_suite(suite, ResultsStore(tmp_path / "store"), progress=False, echo=lambda *_: None,
                                 executor=executor))
    finally:
        executor.close()
    assert set(got) == {("MostPop", 1), ("BPR", 1)}
    for cell, rec in got.items():
        assert rec["status"] == "ok"
        assert rec["test"]["test"]["ndcg@10"] == in_process[cell]["test"]["test"]["ndcg@10"], cell
        prov = rec["provenance"]["executor"]
        assert prov["kind"] == "ray" and prov["address"] == "local" and prov["worker_host"]


def test_executor_options_are_checked():
    with pytest.raises(ExecutorError, match="--jobs must be an integer >= 1"):
        make_executor("local", jobs=0)
    with pytest.raises(ExecutorError, match="--address applies to --executor ray"):
        make_executor("local", address="auto")
    with pytest.raises(ExecutorError, match="--jobs applies to --executor local"):
        make_executor("ray", jobs=2)
    with pytest.raises(ExecutorError, match="unknown executor 'slurm'"):
        make_executor("slurm")
    assert LocalExecutor(1).in_process and not LocalExecutor(2).in_process and LocalExecutor(2).threads >= 1
