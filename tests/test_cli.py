import json

import pytest

from recsys.cli import main


def run(capsys, *argv):
    """Exit code, stdout and stderr as a user sees them (argparse's own exits included)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_describe_json_beauty(capsys, shared_data):
    code, out, _ = run(capsys, "data", "describe", "beauty", "--data-dir", str(shared_data), "--json")
    assert code == 0
    d = json.loads(out)
    assert (d["users"], d["items"], d["interactions"]) == (22_363, 12_101, 198_502)
    assert d["text_coverage"] >= 0.99


def test_describe_text_and_list(capsys):
    code, out, _ = run(capsys, "data", "describe", "ml-100k")
    assert code == 0 and "943" in out and "text coverage" in out
    code, out, _ = run(capsys, "data", "list")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert {"ml-100k", "beauty", "sports", "yelp", "lastfm", "drgo-food", "cdr-toy-game", "ms-mind"} <= set(names)


def test_unknown_dataset_is_a_clean_error(capsys):
    code, _, err = run(capsys, "data", "prepare", "sprots")
    assert code == 2 and "unknown dataset 'sprots'" in err and "sports" in err and "Traceback" not in err


def test_missing_data_dir_is_a_clean_error(capsys, tmp_path):
    code, _, err = run(capsys, "data", "describe", "lastfm", "--data-dir", str(tmp_path))
    assert code == 2 and "LastFM.txt" in err and "--data-dir" in err


def test_prepare_needs_a_name(capsys):
    with pytest.raises(SystemExit):
        main(["data", "prepare"])


def test_user_recipe_works_like_a_shipped_one(capsys, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "s.txt").write_text("1 1 2 3\n2 2 3 4\n")
    recipe = tmp_path / "mine.toml"
    recipe.write_text('name = "mine"\ndescription = "x"\ntask = "sequential"\n[files.inter]\npath = "s.txt"\n'
                      '[interactions]\nfile = "inter"\nformat = "s3rec_lines"\n[split]\nmethod = "leave_one_out"\n')
    code, out, _ = run(capsys, "data", "prepare", "--recipe", str(recipe), "--data-dir", str(tmp_path / "d"),
                       "--export-atomic")
    assert code == 0 and "2 users, 4 items, 6 interactions" in out and "RecBole atomic files" in out


def test_doctor_reports_patches(capsys):
    code, out, _ = run(capsys, "doctor", "--json")
    d = json.loads(out)
    assert code == 0 and d["status"]["ok"], d["status"]
    assert d["compute"]["anomaly detection"] is False
    assert "dok_update" in d["compat patches active"] and "weights_only_checkpoints" in d["compat patches active"]


def test_ood_split_writes_a_recipe_and_reports_the_shift(capsys, tmp_path):
    code, out, _ = run(capsys, "data", "ood-split", "ml-100k", "--shift", "popularity", "--out", str(tmp_path),
                       "--json")
    assert code == 0
    report = json.loads(out[out.index("{"):])
    assert report["recipe"] == str(tmp_path / "ml-100k-ood-popularity.toml")
    s = report["splits"]
    assert s["test_ood"]["mean_train_popularity"] < 0.6 * s["test"]["mean_train_popularity"]
    code, _, err = run(capsys, "data", "ood-split", "drgo-food", "--shift", "temporal", "--out", str(tmp_path))
    assert code != 0 and "split.method" in err


def test_a_ctr_suite_runs_and_gets_its_leaderboard(capsys, tmp_path):
    """``recsys bench`` on a multi-scenario dataset stores per-sample predictions; the leaderboard tests AUC."""
    import polars as pl

    from recsys.bench.store import ResultsStore

    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny-ctr"\ndatasets = ["ms-ml-100k"]\nseeds = [1]\nbaseline = "LR"\n'
                     'metrics = ["auc", "logloss", "auc|scenario:under-25"]\n'
                     '[defaults]\nepochs = 2\nlearning_rate = 0.005\n[models.LR]\n[models.MMoE]\n')
    code, out, _ = run(capsys, "bench", "--suite", str(suite), "--results", str(tmp_path / "store"), "--quiet")
    assert code == 0 and "AUC 0." in out
    store = ResultsStore(tmp_path / "store")
    runs = store.records()
    assert len(runs) == 2
    frame = store.per_user(runs[0]["run_id"], "test")
    assert {"row", "label", "prediction", "logloss", "group_scenario"} <= set(frame.columns) and len(frame) == 10_000
    code, out, _ = run(capsys, "leaderboard", "--suite", str(suite), "--results", str(tmp_path / "store"),
                    "--out", str(tmp_path / "lb"))
    assert code == 0
    board = pl.read_csv(tmp_path / "lb" / "tiny-ctr.csv")
    mmoe = board.filter((pl.col("model") == "MMoE") & (pl.col("metric") == "auc")).row(0, named=True)
    assert mmoe["test"] == "delong" and mmoe["baseline"] == "LR"


def test_distributed_and_executor_options_are_checked(capsys, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    code, _, err = run(capsys, "train", "--model", "BPR", "--dataset", "ml-100k", "--backend", "gloo")
    assert code == 2 and "--backend applies under torchrun" in err
    code, _, err = run(capsys, "bench", "--suite", "quick", "--executor", "ray", "--jobs", "2")
    assert code == 2 and "--jobs applies to --executor local" in err
    code, _, err = run(capsys, "bench", "--suite", "quick", "--jobs", "0")
    assert code == 2 and "--jobs" in err and "expected a whole number >= 1, got 0" in err
    code, _, err = run(capsys, "bench", "--suite", "quick", "--address", "auto")
    assert code == 2 and "--address applies to --executor ray" in err
