import json

import polars as pl
import pytest

from recsys.bench.runner import run_suite
from recsys.bench.store import ResultsStore, load, run_id
from recsys.bench.suite import Suite, load_suite
from recsys.errors import DataError, RecipeError
from recsys.report.table import markdown_table


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory, ml100k):
    root = tmp_path_factory.mktemp("results")
    suite = Suite(name="t", datasets=["ml-100k"], seeds=[1, 2],
                  models={"MostPop": {}, "BPR": {"epochs": 2, "train_batch_size": 4096}})
    lines = []
    records = run_suite(suite, ResultsStore(root), progress=False, echo=lines.append)
    return root, suite, records, lines


def test_one_json_per_run_with_provenance(suite_run):
    root, _, records, _ = suite_run
    files = sorted((root / "runs").glob("*.json"))
    assert len(files) == 4 and len(records) == 4
    rec = json.loads(files[0].read_text())
    prov = rec["provenance"]
    for key in ("git_commit", "packages", "dataset_fingerprint", "split", "config_hash", "seed", "tie_policy",
                "hardware", "llm_backends"):
        assert key in prov, key
    assert prov["packages"]["recbole"] == "1.2.1" and prov["tie_policy"] == "pessimistic"
    assert rec["wall_seconds"] > 0 and rec["peak_memory_mb"] > 0
    assert not list(root.rglob("*.tmp-*"))  # atomic writes leave no temporaries


def test_per_user_vectors_are_kept(suite_run):
    root, _, records, _ = suite_run
    store = ResultsStore(root)
    per_user = store.per_user(records[0]["run_id"])
    assert len(per_user) == 943 and "ndcg@10" in per_user.columns
    assert per_user["ndcg@10"].mean() == pytest.approx(records[0]["test"]["test"]["ndcg@10"])


def test_results_load_as_polars_and_resume_skips_done_runs(suite_run):
    root, suite, _, _ = suite_run
    df = load(root)
    assert isinstance(df, pl.DataFrame) and len(df) == 4
    assert set(df["model"]) == {"MostPop", "BPR"} and (df["status"] == "ok").all()
    assert pl.read_parquet(root / "results.parquet").shape == df.shape
    lines = []
    run_suite(suite, ResultsStore(root), progress=False, echo=lines.append)
    assert sum("skipped" in line for line in lines) == 4
    table = markdown_table(load(root))
    assert "MostPop" in table and "±" in table


def test_damaged_record_is_named(tmp_path):
    store = ResultsStore(tmp_path)
    (tmp_path / "runs" / "x.json").write_text("{broken")
    assert not store.has("x")
    with pytest.raises(DataError, match="x.json.*damaged run record"):
        store.records()


def test_run_ids_and_suites():
    assert run_id("A", "f", "c", 1) != run_id("A", "f", "c", 2)
    quick = load_suite("quick")
    assert quick.seeds == [1, 2] and len(quick.models) >= 3
    with pytest.raises(RecipeError, match="unknown suite"):
        load_suite("nope")


def test_fallback_runs_are_labelled_in_results(ml100k, tmp_path):
    from recsys.bench.records import record_for, run_label
    from recsys.bench.store import records_frame
    from recsys.train.run import train_run

    fallback = {"artefact": "profiles-keywords-tfidf", "backend": "keywords-tfidf", "is_llm": False}
    neural = {"artefact": "embeddings-minilm", "backend": "minilm", "is_neural": True}
    assert run_label("X", [neural]) == "X"
    assert run_label("X", [neural, fallback]) == "X (keywords-tfidf fallback)"
    result = train_run("MostPop", ml100k, {}, llm_artefacts=[neural, fallback])
    record, _ = record_for(result, ml100k, "rid", "hash")
    row = records_frame([record]).row(0, named=True)
    assert row["label"] == "MostPop (keywords-tfidf fallback)"
    assert row["llm_backend"] == ("embeddings-minilm=minilm,"
                                  "profiles-keywords-tfidf=keywords-tfidf (non-LLM fallback)")


def test_a_column_that_is_empty_in_the_first_rows_still_loads():
    """Found when the 101st record of a store was the first with an LLM backend (polars infers from 100 rows)."""
    from recsys.bench.store import records_frame

    def record(i, backends):
        return {"run_id": f"r{i}", "model": "M", "dataset": "d", "seed": i, "status": "ok",
                "provenance": {"llm_backends": backends, "config_hash": "h", "dataset_fingerprint": "f",
                               "git_commit": "c", "tie_policy": "pessimistic"},
                "test": {"test": {"ndcg@10": 0.1}}}

    frame = records_frame([record(i, {}) for i in range(150)] + [record(150, {"embeddings": "minilm"})])
    assert frame.height == 151 and frame["llm_backend"][150] == "embeddings=minilm"


def test_run_time_summary_sums_a_suites_cells():
    from recsys.bench.records import run_time_summary

    records = [{"model": "A", "dataset": "d", "seed": s, "suite": "x", "wall_seconds": 1800.0 * s} for s in (1, 2)]
    records.append({"model": "B", "dataset": "d", "seed": 1, "suite": "y", "wall_seconds": 99999.0})
    line = run_time_summary(records, "x")
    assert "2 runs" in line and "1.50 h" in line and "A on d, seed 2, 60.0 min" in line
    assert run_time_summary(records, "z") == "suite z: no runs in this store"
