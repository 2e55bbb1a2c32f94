"""Every file the toolkit writes stays inside its root, whatever a recipe or a suite calls itself.

A property test over random names (slashes, ``..``, absolute paths, NUL, very long, unicode): a
name is either refused with an error naming the key, or everything written for it lands inside
the cache (prepare, RecBole export) or the leaderboard folder. Plus the two concurrency cases:
parallel ``prepare`` on a cold cache, and ``--force`` over a cache entry that is a link.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.errors import RecipeError
from tests.conftest import write

NASTY = st.one_of(
    st.sampled_from(["/tmp/v", "../../x", "..", ".", "a/../../b", "/", "~root", "a\x00b", "x" * 300, "\u00e9t\u00e9",
                     "名前", "a\\..\\b", " ", "con", "-rf", "$HOME", "a\nb", "ml-100k"]),
    st.text(min_size=0, max_size=120),
)
CSV = "u,i,t\n" + "\n".join(f"{k % 9},{k % 13},{k}" for k in range(80)) + "\n"


def toml_string(text: str) -> str:
    """A TOML basic string holding exactly ``text`` (control characters, quotes and backslashes escaped)."""
    return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or c in '"\\\x7f' else c for c in text) + '"'


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def _inside(path: Path, root: Path) -> bool:
    real, base = path.resolve(), root.resolve()
    return real == base or base in real.parents


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NASTY)
def test_recipe_names_never_write_outside_the_cache(tmp_path_factory, name):
    from recsys.data import prepare
    from recsys.data.recipe import load_recipe_file
    from recsys.recbole.atomic_files import export_atomic

    world = tmp_path_factory.mktemp("world")
    cache, data = world / "cache", world / "data"
    write(data / "inter.csv", CSV)
    recipe = world / "r.toml"
    recipe.write_text(f'name = {toml_string(name)}\ndescription = "d"\ntask = "general"\n[files.inter]\n'
                      f'path = "inter.csv"\n[interactions]\nfile = "inter"\nformat = "csv"\n'
                      f'columns = {{ user_id = "u", item_id = "i", timestamp = "t" }}\n[split]\nmethod = "ratio"\n',
                      encoding="utf-8")
    before = _files(world)
    old = os.environ.get("RECSYS_CACHE")
    os.environ["RECSYS_CACHE"] = str(cache)
    try:
        try:
            ds = prepare(load_recipe_file(recipe), data, progress=False)
        except RecipeError as exc:
            assert "key 'name'" in str(exc)
            return
        export_atomic(ds)
    finally:
        if old is None:
            os.environ.pop("RECSYS_CACHE", None)
        else:
            os.environ["RECSYS_CACHE"] = old
    new = _files(world) - before
    assert new and all(_inside(p, cache) for p in new), sorted(p for p in new if not _inside(p, cache))


@pytest.fixture(scope="module")
def finished_store(tmp_path_factory):
    from recsys.bench.runner import run_suite
    from recsys.bench.store import ResultsStore
    from recsys.bench.suite import Suite

    root = tmp_path_factory.mktemp("store")
    run_suite(Suite(name="base", datasets=["ml-100k"], seeds=[1], models={"Pop": {}}), ResultsStore(root),
              echo=lambda *_: None, progress=False)
    return root


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NASTY)
def test_suite_names_never_write_outside_the_leaderboard_folder(tmp_path_factory, finished_store, name):
    from recsys.bench.store import ResultsStore
    from recsys.bench.suite import load_suite
    from recsys.report.publish import write_leaderboard

    world = tmp_path_factory.mktemp("board")
    suite_file = world / "s.toml"
    suite_file.write_text(f'name = {toml_string(name)}\ndatasets = ["ml-100k"]\nseeds = [1]\n[models.Pop]\n',
                          encoding="utf-8")
    try:
        suite = load_suite(str(suite_file))
    except RecipeError as exc:
        assert "key 'name'" in str(exc)
        return
    store_root = world / "store"
    shutil.copytree(finished_store, store_root)
    store = ResultsStore(store_root)
    store.tag(next(iter(r["run_id"] for r in store.records())), suite.name)
    out = world / "out"
    before = _files(world)
    write_leaderboard(store, out, suite.name, None, ("ndcg@10",), html=False)
    new = _files(world) - before
    assert new and all(_inside(p, out) or _inside(p, store_root) for p in new)


def _prepare_ml100k(cache: str, queue) -> None:
    os.environ["RECSYS_CACHE"] = cache
    try:
        from recsys.data import prepare

        queue.put(str(prepare("ml-100k", progress=False).path))
    except Exception as exc:  # noqa: BLE001  (reported to the parent)
        queue.put(f"ERROR {type(exc).__name__}: {exc}")


def test_concurrent_prepare_on_a_cold_cache(tmp_path):
    """Four preparers at once: one prepares, the others wait and re-use it; no temporary folder is left."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_prepare_ml100k, args=(str(tmp_path), queue)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert not [r for r in results if r.startswith("ERROR")], results
    assert len(set(results)) == 1
    folder = tmp_path / "prepared" / "ml-100k"
    assert [p.name for p in folder.iterdir() if ".tmp-" in p.name] == []


def test_stale_temporary_folders_are_cleaned(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_CACHE", str(tmp_path))
    from recsys.data import prepare

    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    debris = tmp_path / "prepared" / "ml-100k" / f".0123456789abcdef.tmp-{dead}"
    write(debris / "interactions.parquet", "half")
    prepare("ml-100k", progress=False, force=True)
    assert not debris.exists()


def test_force_over_a_linked_cache_entry_never_touches_the_target(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_CACHE", str(tmp_path / "cache"))
    from recsys.data import prepare

    ds = prepare("ml-100k", progress=False)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(ds.path, elsewhere)
    write(elsewhere / "mine.txt", "keep")
    shutil.rmtree(ds.path)
    ds.path.symlink_to(elsewhere, target_is_directory=True)
    again = prepare("ml-100k", progress=False, force=True)
    assert again.path == ds.path and not again.path.is_symlink()
    assert (elsewhere / "mine.txt").read_text() == "keep"  # the link was replaced; its target untouched
