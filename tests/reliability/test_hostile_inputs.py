"""Round two of the bad-input catalogue: hostile recipes, suites, config values, result stores and servers.

Every case runs the real ``recsys`` command line in-process and asserts what a user sees: exit code
2, one line on stderr that names the file, key, column or line, no traceback, and nothing written
or deleted outside the cache, the data folder and the results folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys.cli import main
from tests.conftest import write

CSV = "u,i,r,t\n" + "\n".join(f"{k % 9},{k % 13},{1 + k % 5},{k}" for k in range(120)) + "\n"

RECIPE = '''name = {name}
description = "toy"
task = "general"

[files.inter]
path = {path}
{file_extra}
[interactions]
file = "inter"
format = "csv"
columns = {columns}
{inter_extra}
[filters]
{filters}
[split]
method = "ratio"
{seed}
{split}
'''
DEFAULTS = dict(seed="seed = 1", name='"toy"', path='"inter.csv"', file_extra="", inter_extra="", filters="", split="",
                columns='{ user_id = "u", item_id = "i", rating = "r", timestamp = "t" }')


def recipe(tmp: Path, data: str = CSV, raw: bytes | None = None, **parts) -> Path:
    (tmp / "data").mkdir(exist_ok=True)
    (tmp / "data" / "inter.csv").write_bytes(raw if raw is not None else data.encode())
    return write(tmp / "toy.toml", RECIPE.format(**{**DEFAULTS, **parts}))


def run(capsys, argv: list[str]) -> tuple[int, str]:
    """The command line as a user runs it: exit code and stderr (argparse's exits included)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")} if root.exists() else set()


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A cache, a data folder, a results folder and an 'outside' folder holding a file that must survive."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("RECSYS_CACHE", str(cache))
    outside = tmp_path / "outside"
    write(outside / "precious.txt", "keep me")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_clean_error(code: int, err: str, *expected: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    for text in expected:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"


def assert_outside_untouched(world: Path, before: set[Path]) -> None:
    assert (world / "outside" / "precious.txt").read_text() == "keep me"
    allowed = (world / "cache", world / "data", world / "results", world / "board")
    new = {p for p in files_under(world) - before if not any(p == a or a in p.parents for a in allowed)}
    assert not new, f"written outside the toolkit's folders: {sorted(new)}"


# ---- recipes: (id, recipe parts, expected texts in the one error line) ------------------------------

RECIPE_CASES = [
    ("absolute name", dict(name='"{outside}"'), ["key 'name'", "toy.toml"]),
    ("climbing name", dict(name='"../../x"'), ["key 'name'", "not a path"]),
    ("name a number", dict(name="42"), ["key 'name'", "expected a string"]),
    ("empty name", dict(name='""'), ["key 'name'", "empty"]),
    ("dot-dot name", dict(name='".."'), ["key 'name'"]),
    ("NUL in name", dict(name='"a\\u0000b"'), ["key 'name'", "control character"]),
    ("300-character name", dict(name='"' + "n" * 300 + '"'), ["key 'name'", "at most 100"]),
    ("path a number", dict(path="7"), ["key 'files.inter.path'", "expected a file path"]),
    ("download path climbs out", dict(path='"../../../elsewhere/owned.csv"',
                                      file_extra='url = "https://127.0.0.1:9/x.csv"'),
     ["key 'files.inter.path'", "climbs out"]),
    ("download path absolute", dict(path='"/tmp/owned.csv"', file_extra='url = "https://127.0.0.1:9/x.csv"'),
     ["key 'files.inter.path'", "absolute"]),
    ("file:// url", dict(path='"missing.csv"', file_extra='url = "file:///etc/passwd"'),
     ["key 'files.inter.url'", "https only"]),
    ("plain http url", dict(path='"missing.csv"', file_extra='url = "http://example.org/x.csv"'),
     ["key 'files.inter.url'", "https only"]),
    ("ftp url", dict(path='"missing.csv"', file_extra='url = "ftp://example.org/x.csv"'),
     ["key 'files.inter.url'"]),
    ("short sha256", dict(file_extra='sha256 = "abc"'), ["key 'files.inter.sha256'", "64 hexadecimal"]),
    ("time_window a number", dict(filters="time_window = 5"), ["key 'filters.time_window'"]),
    ("valid as text", dict(split='valid = "0.1"'), ["key 'split.valid'", "a share"]),
    ("seed as text", dict(seed='seed = "abc"'), ["key 'split.seed'", "whole number"]),
    ("per_user yes", dict(split='per_user = "yes"'), ["key 'split.per_user'", "true or false"]),
    ("user_core as text", dict(filters='user_core = "five"'), ["key 'filters.user_core'", "whole number"]),
    ("negative k-core", dict(filters="user_core = -3"), ["key 'filters.user_core'", ">= 0"]),
    ("fractional k-core", dict(filters="item_core = 2.5"), ["key 'filters.item_core'", "whole number"]),
    ("rating_min as text", dict(filters='rating_min = "4"'), ["key 'filters.rating_min'", "finite number"]),
    ("dedup yes", dict(filters='dedup = "yes"'), ["key 'filters.dedup'"]),
    ("order_by unknown", dict(split='order_by = "time"'), ["key 'split.order_by'"]),
    ("columns a list", dict(columns='["u", "i"]'), ["key 'interactions.columns'", "a table"]),
    ("one column two roles", dict(columns='{ user_id = "u", item_id = "u" }'),
     ["key 'interactions.columns.item_id'", "both"]),
    ("unknown encoding", dict(inter_extra='encoding = "no-such-codec"'), ["key 'interactions.encoding'"]),
    ("unknown bad-line policy", dict(inter_extra='on_bad_lines = "ignore"'), ["key 'interactions.on_bad_lines'"]),
]


@pytest.mark.parametrize("name,parts,expected", RECIPE_CASES, ids=[c[0] for c in RECIPE_CASES])
def test_hostile_recipes(world, capsys, name, parts, expected):
    parts = {k: v.replace("{outside}", str(world / "outside")) for k, v in parts.items()}
    path = recipe(world, **parts)
    before = files_under(world)
    code, err = run(capsys, ["data", "prepare", "--recipe", path, "--data-dir", world / "data", "--export-atomic",
                             "--download"])
    assert_clean_error(code, err, *expected)
    assert_outside_untouched(world, before)


def test_absolute_recipe_name_never_deletes_that_folder(world, capsys):
    """The critical case: ``name = "/abs/dir"`` with --export-atomic used to rmtree that folder."""
    victim = world / "victim"
    write(victim / "victim" / "file.txt", "data")  # the export removed <root>/<name>
    path = recipe(world, name=f'"{victim}"')
    code, err = run(capsys, ["data", "prepare", "--recipe", path, "--data-dir", world / "data", "--export-atomic"])
    assert_clean_error(code, err, "key 'name'")
    assert (victim / "victim" / "file.txt").read_text() == "data"


def test_non_utf8_and_invalid_toml_recipes_name_the_file(world, capsys):
    bad = world / "latin.toml"
    bad.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    code, err = run(capsys, ["data", "prepare", "--recipe", bad])
    assert_clean_error(code, err, str(bad), "UTF-8")
    broken = write(world / "broken.toml", "name = \n")
    code, err = run(capsys, ["data", "prepare", "--recipe", broken])
    assert_clean_error(code, err, str(broken), "invalid TOML")


# ---- data: NaN and infinity ------------------------------------------------------------------------

NONFINITE_CASES = [
    ("NaN rating under rating_min", "u,i,r,t\n1,2,nan,5\n1,3,5,6\n2,3,5,7\n", "filters", "rating_min = 4",
     ["line 2", "column 'r'", "not a finite number"]),
    ("infinite rating", "u,i,r,t\n1,2,5,5\n1,3,inf,6\n2,3,5,7\n", "filters", "", ["line 3", "column 'r'"]),
    ("NaN timestamp ordering a split", "u,i,r,t\n1,2,5,5\n1,3,5,NaN\n2,3,5,7\n", "split", 'order_by = "timestamp"',
     ["line 3", "column 't'"]),
    ("negative infinite timestamp", "u,i,r,t\n1,2,5,-inf\n1,3,5,6\n2,3,5,7\n", "filters", "", ["line 2", "column 't'"]),
]


@pytest.mark.parametrize("name,data,section,extra,expected", NONFINITE_CASES, ids=[c[0] for c in NONFINITE_CASES])
def test_nan_and_infinity_are_refused_with_the_line(world, capsys, name, data, section, extra, expected):
    path = recipe(world, data=data, **{section: extra})
    code, err = run(capsys, ["data", "prepare", "--recipe", path, "--data-dir", world / "data"])
    assert_clean_error(code, err, str(world / "data" / "inter.csv"), *expected)
    assert not (world / "cache" / "prepared" / "toy").exists() or not any((world / "cache" / "prepared" / "toy").glob("*/meta.json"))


def test_nan_rows_dropped_by_the_explicit_option_are_recorded(world):
    from recsys.data import prepare
    from recsys.data.recipe import load_recipe_file

    rows = CSV.replace("\n3,3,4,3\n", "\n3,3,nan,3\n").replace("\n5,5,1,5\n", "\n5,5,1,inf\n")
    assert rows != CSV
    path = recipe(world, data=rows, inter_extra='on_bad_lines = "skip"', filters="rating_min = 1")
    ds = prepare(load_recipe_file(path), world / "data", progress=False)
    assert ds.meta["skipped_lines"] == [5, 7]  # the file lines of the two rows (header is line 1)
    assert ds.describe()["interactions"] == 118  # 120 rows, 2 dropped


def test_encoding_is_honoured_for_csv(world):
    from recsys.data import prepare
    from recsys.data.recipe import load_recipe_file

    data = CSV.replace("\n1,1,", "\ncafé,1,")
    path = recipe(world, raw=data.encode("latin-1"), inter_extra='encoding = "latin-1"')
    ds = prepare(load_recipe_file(path), world / "data", progress=False)
    assert "café" in ds.users["user_id"].to_list()


def test_ids_that_differ_only_in_spelling_are_reported(world, caplog):
    from recsys.data import prepare
    from recsys.data.recipe import load_recipe_file

    path = recipe(world, data=CSV + "5,1,3,500\n05,2,3,501\n5.0,3,3,502\n")
    with caplog.at_level("WARNING"):
        ds = prepare(load_recipe_file(path), world / "data", progress=False)
    assert {"5", "05", "5.0"} <= set(ds.users["user_id"].to_list())  # the rule: ids are compared as written
    assert any("'05', '5', '5.0'" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]


# ---- the command line ------------------------------------------------------------------------------

def test_dataset_name_and_recipe_together(world, capsys):
    code, err = run(capsys, ["data", "prepare", "ml-100k", "--recipe", recipe(world)])
    assert_clean_error(code, err, "not both")


@pytest.mark.parametrize("flag", ["--checkpoint", "--results"])
def test_via_recbole_refuses_options_it_would_ignore(world, capsys, flag):
    code, err = run(capsys, ["train", "--model", "BPR", "--dataset", "ml-100k", "--via", "recbole", flag, world / "x"])
    assert_clean_error(code, err, flag)


CONFIG_FILE_CASES = [
    ("missing", None, "No such file"),
    ("a folder", "DIR", "a folder"),
    ("invalid TOML", b"epochs = \n", "invalid TOML"),
    ("not UTF-8", b'model = "caf\xe9"\n', "not UTF-8"),
]


@pytest.mark.parametrize("name,content,expected", CONFIG_FILE_CASES, ids=[c[0] for c in CONFIG_FILE_CASES])
def test_bad_config_files_name_the_file(world, capsys, name, content, expected):
    path = world / "cfg.toml"
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    code, err = run(capsys, ["train", "--model", "BPR", "--dataset", "ml-100k", "--config", path])
    assert_clean_error(code, err, "--config", str(path), expected)


def test_set_without_a_key(world, capsys):
    code, err = run(capsys, ["train", "--model", "BPR", "--dataset", "ml-100k", "--set", "=5"])
    assert_clean_error(code, err, "--set")


def test_cache_pointing_at_a_file(world, capsys, monkeypatch):
    write(world / "cachefile", "x")
    monkeypatch.setenv("RECSYS_CACHE", str(world / "cachefile"))
    code, err = run(capsys, ["data", "prepare", "--recipe", recipe(world), "--data-dir", world / "data"])
    assert_clean_error(code, err, "RECSYS_CACHE", str(world / "cachefile"))
    assert (world / "cachefile").read_text() == "x"


def test_results_pointing_at_a_file(world, capsys):
    write(world / "results.txt", "x")
    code, err = run(capsys, ["train", "--model", "Pop", "--dataset", "ml-100k", "--results", world / "results.txt"])
    assert_clean_error(code, err, str(world / "results.txt"), "not a folder")


def test_topk_larger_than_the_catalogue(world, capsys):
    tiny = "u,i,r,t\n" + "\n".join(f"{k % 7},{k % 13},3,{k}" for k in range(60)) + "\n"
    path = recipe(world, data=tiny)
    code, err = run(capsys, ["train", "--model", "Pop", "--dataset", path, "--data-dir", world / "data",
                             "--results", world / "results"])
    assert_clean_error(code, err, "topk", "only 13 items")


# ---- suites ----------------------------------------------------------------------------------------

SUITE = '''name = {name}
datasets = ["ml-100k"]
seeds = [1]
{top}
[models.{entry}]
{entry_extra}
'''

SUITE_CASES = [
    ("absolute suite name", dict(name='"/abs/evil"'), ["key 'name'", "not a path"]),
    ("climbing suite name", dict(name='"../evil"'), ["key 'name'"]),
    ("model a number", dict(entry_extra="model = 5"), ["key 'models.Pop.model'"]),
    ("metrics numbers", dict(top="metrics = [1, 2]"), ["key 'metrics'"]),
    ("entry datasets a string", dict(entry_extra='datasets = "ml-100k"'), ["key 'models.Pop.datasets'", "a list"]),
    ("entry seeds strings", dict(entry_extra='seeds = ["1"]'), ["key 'models.Pop.seeds'"]),
    ("entry per_domain text", dict(entry_extra='per_domain = "yes"'), ["key 'models.Pop.per_domain'"]),
    ("300-character label", dict(entry='"' + "L" * 300 + '"', entry_extra='model = "Pop"'), ["at most 200 bytes"]),
]


@pytest.mark.parametrize("name,parts,expected", SUITE_CASES, ids=[c[0] for c in SUITE_CASES])
def test_hostile_suites(world, capsys, name, parts, expected):
    path = write(world / "suite.toml", SUITE.format(**{"name": '"s"', "top": "", "entry": "Pop", "entry_extra": "",
                                                       **parts}))
    before = files_under(world)
    code, err = run(capsys, ["bench", "--suite", path, "--results", world / "results"])
    assert_clean_error(code, err, str(path), *expected)
    assert_outside_untouched(world, before)


def test_long_labels_and_dollar_signs_run_and_plot(world, capsys):
    label = "Pop $x$ " + "L" * 150
    path = write(world / "suite.toml", SUITE.format(name='"long"', top="", entry=f'"{label}"',
                                                    entry_extra='model = "Pop"'))
    code, err = run(capsys, ["bench", "--suite", path, "--results", world / "results", "--quiet"])
    assert code == 0, err
    names = [p.name for p in (world / "results" / "runs").iterdir()]
    assert all(len(n.encode()) < 120 for n in names), names
    code, err = run(capsys, ["leaderboard", "--suite", path, "--results", world / "results", "--out", world / "board"])
    assert code == 0, err
    assert label in (world / "board" / "long.md").read_text()
    assert list((world / "board" / "long-plots").glob("*.png"))


def test_a_suite_whose_every_run_failed_reports_it(world, capsys):
    path = write(world / "suite.toml", SUITE.format(name='"broken"', top="", entry="BPR",
                                                    entry_extra="epochs = 1\nembedding_size = 0"))
    code = main(["bench", "--suite", str(path), "--results", str(world / "results"), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err and "1 of 1 runs failed" in err, err
    assert "no finished runs" in out or "failed: BPR" in out


def test_two_suites_sharing_a_results_folder_both_count_the_shared_cell(world, capsys):
    for name in ("first", "second"):
        write(world / f"{name}.toml", SUITE.format(name=f'"{name}"', top='baseline = "Pop"', entry="Pop",
                                                   entry_extra=""))
        code, err = run(capsys, ["bench", "--suite", world / f"{name}.toml", "--results", world / "results", "--quiet"])
        assert code == 0, err
    assert len(list((world / "results" / "runs").glob("*.json"))) == 1  # the shared cell ran once
    for name in ("first", "second"):
        code, err = run(capsys, ["leaderboard", "--suite", world / f"{name}.toml", "--results", world / "results",
                                 "--out", world / "board"])
        assert code == 0, err
        assert "| Pop (baseline) | none | 1 |" in (world / "board" / f"{name}.md").read_text()


# ---- leaderboards and result stores ----------------------------------------------------------------

@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """One small finished store (Pop and ItemKNN-free: two fast models on ml-100k, one seed)."""
    from recsys.bench.runner import run_suite
    from recsys.bench.store import ResultsStore
    from recsys.bench.suite import Suite

    root = tmp_path_factory.mktemp("store")
    suite = Suite(name="tiny", datasets=["ml-100k"], seeds=[1], models={"Pop": {}, "Random": {}}, baseline="Pop")
    run_suite(suite, ResultsStore(root), echo=lambda *_: None, progress=False)
    return root


def copy_store(store_dir: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(store_dir, dest)
    return dest


LEADERBOARD_CASES = [
    ("alpha above 1", ["--alpha", "5"], "--alpha"),
    ("unknown baseline", ["--baseline", "Nope"], "--baseline 'Nope'"),
    ("unknown metric", ["--metrics", "nope@10"], "--metrics"),
    ("suite name with a slash", ["--suite", "/abs/evil"], "suite name"),
]


@pytest.mark.parametrize("name,extra,expected", LEADERBOARD_CASES, ids=[c[0] for c in LEADERBOARD_CASES])
def test_leaderboard_options_are_checked(world, capsys, store_dir, name, extra, expected):
    results = copy_store(store_dir, world / "results")
    argv = ["leaderboard", "--suite", "tiny", "--results", results, "--out", world / "board"] + extra
    if "--suite" in extra:
        argv = argv[:1] + argv[3:]
    code, err = run(capsys, argv)
    assert_clean_error(code, err, expected)
    assert not (Path("/abs/evil.csv").exists())


def test_leaderboard_on_a_mistyped_results_path_creates_nothing(world, capsys):
    code, err = run(capsys, ["leaderboard", "--suite", "quick", "--results", world / "reslts", "--out", world / "board"])
    assert_clean_error(code, err, str(world / "reslts"), "not a results store")
    assert not (world / "reslts").exists()


RECORD_CASES = [
    ("a JSON list", b"[]", "a JSON list"),
    ("an empty object", b"{}", "missing run_id"),
    ("binary garbage", bytes(range(256)), "binary data"),
    ("truncated JSON", b'{"run_id": ', "damaged run record"),
]


@pytest.mark.parametrize("name,content,expected", RECORD_CASES, ids=[c[0] for c in RECORD_CASES])
def test_foreign_files_in_a_store_are_named(world, capsys, store_dir, name, content, expected):
    results = copy_store(store_dir, world / "results")
    (results / "runs" / "zz-foreign.json").write_bytes(content)
    code, err = run(capsys, ["leaderboard", "--suite", "tiny", "--results", results, "--out", world / "board"])
    assert_clean_error(code, err, "zz-foreign.json", expected)


@pytest.mark.parametrize("damage", ["garbage", "missing"])
def test_damaged_per_user_files_are_named(world, capsys, store_dir, damage):
    results = copy_store(store_dir, world / "results")
    victim = sorted((results / "per_user").glob("Pop-*.test.parquet"))[0]
    if damage == "garbage":
        victim.write_bytes(b"not parquet at all")
    else:
        victim.unlink()
    code, err = run(capsys, ["leaderboard", "--suite", "tiny", "--results", results, "--out", world / "board"])
    assert_clean_error(code, err, victim.name)


def test_a_foreign_folder_is_not_a_store(world, capsys):
    write(world / "elsewhere" / "notes.txt", "hello")
    code, err = run(capsys, ["leaderboard", "--suite", "quick", "--results", world / "elsewhere", "--out", world / "board"])
    assert_clean_error(code, err, "not a results store")
    assert sorted(p.name for p in (world / "elsewhere").iterdir()) == ["notes.txt"]


def test_a_record_that_cannot_be_written_leaves_no_orphan_vectors(tmp_path, store_dir):
    from recsys.bench.store import ResultsStore
    from recsys.errors import RecsysError

    results = copy_store(store_dir, tmp_path / "results")
    store = ResultsStore(results)
    record = json.loads(next((results / "runs").glob("Pop-*.json")).read_text())
    frames = {"test": store.per_user(record["run_id"])}
    record["run_id"] = "Blocked-s1-000000000000"
    store.path(record["run_id"]).mkdir()  # a folder where the record should go: the write fails
    with pytest.raises(RecsysError, match="nothing was stored"):
        store.save(record, frames)
    assert not list((results / "per_user").glob("Blocked-*"))


ARGUMENT_CASES = [
    ("negative seed", ["train", "--model", "Pop", "--dataset", "ml-100k", "--seed", "-1"], "--seed"),
    ("seed as text", ["train", "--model", "Pop", "--dataset", "ml-100k", "--seed", "one"], "--seed"),
    ("zero jobs", ["bench", "--suite", "quick", "--jobs", "0"], "--jobs"),
    ("zero perf epochs", ["perf", "train", "--model", "SASRec", "--epochs", "0"], "--epochs"),
    ("negative semantic-id levels", ["llm", "sids", "ml-100k", "--levels", "-2"], "--levels"),
    ("zero LLM timeout", ["llm", "profile", "ml-100k", "--timeout", "0"], "--timeout"),
]


@pytest.mark.parametrize("name,argv,expected", ARGUMENT_CASES, ids=[c[0] for c in ARGUMENT_CASES])
def test_out_of_range_arguments_are_refused_by_name(world, capsys, name, argv, expected):
    code, err = run(capsys, argv)
    assert_clean_error(code, err, expected, "--help")


def test_empty_metric_list(world, capsys, store_dir):
    results = copy_store(store_dir, world / "results")
    code, err = run(capsys, ["leaderboard", "--suite", "tiny", "--results", results, "--out", world / "board",
                             "--metrics", ","])
    assert_clean_error(code, err, "--metrics", "no metric")
