"""Acceptance figures on the real datasets (skipped when ../shared/datasets is absent)."""

import polars as pl
import pytest

from recsys.data import prepare
from recsys.errors import DataError
from recsys.recbole.atomic_files import export_atomic

EXPECTED = {  # users, items, interactions
    "beauty": (22_363, 12_101, 198_502),
    "sports": (35_598, 18_357, 296_337),
    "yelp": (30_431, 20_033, 316_354),
    "lastfm": (1_090, 3_646, 52_551),
    "ml-100k": (943, 1_682, 100_000),
}


@pytest.mark.parametrize("name", EXPECTED)
def test_counts_match_the_papers(name, shared_data):
    s = prepare(name, shared_data, progress=False).describe()
    assert (s["users"], s["items"], s["interactions"]) == EXPECTED[name]
    assert s["splits"]["test"] == s["users"]  # leave-one-out: one test item per user


def test_beauty_titles_join_through_asin_maps(shared_data):
    ds = prepare("beauty", shared_data, progress=False)
    assert ds.describe()["text_coverage"] >= 0.99
    titled = ds.items["title"].is_not_null() & (ds.items["title"].str.strip_chars() != "")
    assert int(titled.sum()) == 12_094  # MANIFEST: 12,094 of 12,101 ASINs have a non-empty title
    # S3Rec item 4 is ASIN 7806397051 in P5's maps: the MANIFEST's spot check, the WAWO palette
    row = ds.items.filter(pl.col("item_id") == "4").row(0, named=True)
    assert row["title"].startswith("WAWO 15 Color Professionl Makeup Eyeshadow")


def test_yelp_text_has_categories(shared_data):
    ds = prepare("yelp", shared_data, progress=False)
    assert ds.describe()["text_coverage"] >= 0.99
    row = ds.items.filter(pl.col("item_id") == "11394").row(0, named=True)
    assert "Vietnamese" in row["categories"]


def test_yelp2018_stray_line_is_reported_then_skipped(shared_data):
    from recsys.data import readers

    with pytest.raises(DataError, match=r"yelp2018/train.txt, line 1: malformed line '0'"):
        readers.read_selfrec(shared_data / "graph_ood/DRGO/data_for_SELFRec/yelp2018/train.txt")
    ds = prepare("drgo-yelp2018", shared_data, progress=False)
    assert ds.meta["skipped_lines"] == [1]
    assert ds.describe()["splits"]["train"] == 238_515  # 238,516 lines less the stray one
    assert set(ds.describe()["splits"]) == {"train", "valid", "test", "test_ood"}


def test_cross_domain_pairs_carry_domains(shared_data):
    ds = prepare("cdr-food-kitchen", shared_data, progress=False)
    s = ds.describe()
    assert (s["users"], s["items"], s["interactions"]) == (7_144, 28_095, 173_548)
    assert set(s["domains"]) == {"food", "kitchen"}
    tg = prepare("cdr-toy-game", shared_data, progress=False).describe()
    assert tg["domains"] == {"game": 82_871, "toy": 114_487}


@pytest.mark.parametrize("name", EXPECTED)
def test_atomic_export_loads_in_recbole_with_same_counts(name, shared_data):
    from recbole.config import Config
    from recbole.data import create_dataset
    from recbole.model.general_recommender import Pop

    ds = prepare(name, shared_data, progress=False)
    root = export_atomic(ds)
    cfg = {"data_path": str(root), "benchmark_filename": None, "show_progress": False, "state": "ERROR",
           "load_col": {"inter": ["user_id", "item_id", "timestamp"]}}
    rb = create_dataset(Config(model=Pop, dataset=name, config_dict=cfg))
    assert (rb.user_num - 1, rb.item_num - 1, rb.inter_num) == EXPECTED[name]  # RecBole counts [PAD]
