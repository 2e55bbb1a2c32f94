import polars as pl
import pytest

from recsys.data import filters as F
from recsys.data import schema as S
from recsys.data import splits
from recsys.errors import DataError


def frame(rows, cols=("user_id", "item_id", "timestamp")):
    return S.canonical(pl.DataFrame([dict(zip(cols, r)) for r in rows]))


def test_k_core_is_iterative():
    # item c has 1 interaction; removing it leaves user 3 with 1 -> user 3 goes, which leaves item b at 2
    rows = [("1", "a", 1), ("1", "b", 2), ("2", "a", 1), ("2", "b", 2), ("3", "b", 3), ("3", "c", 4)]
    out = F.k_core(frame(rows), user_core=2, item_core=2)
    assert sorted(out["user_id"].unique()) == ["1", "2"]
    assert out.group_by("item_id").len()["len"].min() >= 2
    assert out.group_by("user_id").len()["len"].min() >= 2


def test_dedup_keeps_first_or_last_in_time():
    rows = [("1", "a", 5), ("1", "a", 1), ("1", "b", 3)]
    first = F.deduplicate(frame(rows), "first")
    last = F.deduplicate(frame(rows), "last")
    assert first.filter(pl.col("item_id") == "a")["timestamp"].item() == 1
    assert last.filter(pl.col("item_id") == "a")["timestamp"].item() == 5
    assert len(F.deduplicate(frame(rows), "none")) == 3
    with pytest.raises(DataError, match="dedup must be one of"):
        F.deduplicate(frame(rows), "random")


def test_rating_threshold_and_time_window():
    df = frame([("1", "a", 10, 5.0), ("1", "b", 20, 2.0), ("2", "a", 30, 4.0)],
               ("user_id", "item_id", "timestamp", "rating"))
    assert F.rating_threshold(df, 4)["item_id"].to_list() == ["a", "a"]
    assert F.time_window(df, 15, 30)["timestamp"].to_list() == [20.0]
    assert len(F.time_window(df, "1970-01-01T00:00:15")) == 2
    with pytest.raises(DataError, match="rating_min is set but the data has no rating column"):
        F.rating_threshold(frame([("1", "a", 1)]), 3)


def test_leave_one_out_by_time_with_short_users():
    rows = [("1", "a", 3), ("1", "b", 1), ("1", "c", 2), ("1", "d", 4),  # order by time: b c a d
            ("2", "x", 1), ("2", "y", 2),
            ("3", "z", 7)]
    out = splits.leave_one_out(frame(rows), "timestamp")
    get = {(r["user_id"], r["item_id"]): r["split"] for r in out.iter_rows(named=True)}
    assert get[("1", "d")] == "test" and get[("1", "a")] == "valid"
    assert get[("1", "b")] == get[("1", "c")] == "train"
    assert get[("2", "y")] == "test" and get[("2", "x")] == "train"
    assert get[("3", "z")] == "train"


def test_leave_one_out_ties_fall_back_to_file_order():
    rows = [("1", "a", 5), ("1", "b", 5), ("1", "c", 5)]
    out = splits.leave_one_out(frame(rows), "auto")
    assert out.filter(pl.col("split") == "test")["item_id"].item() == "c"


def test_temporal_split_never_tests_the_past():
    rows = [(str(u), str(i), float(u * 10 + i)) for u in range(10) for i in range(10)]
    out = splits.temporal(frame(rows), valid=0.1, test=0.2)
    t = {s: out.filter(pl.col("split") == s)["timestamp"] for s in ("train", "valid", "test")}
    assert t["train"].max() < t["valid"].min() <= t["valid"].max() < t["test"].min()
    assert len(t["test"]) == 20 and len(t["valid"]) == 10


def test_ratio_split_is_seeded_and_proportional():
    rows = [(str(u), str(i), float(i)) for u in range(50) for i in range(20)]
    a = splits.ratio(frame(rows), 0.1, 0.1, seed=1)
    b = splits.ratio(frame(rows), 0.1, 0.1, seed=1)
    c = splits.ratio(frame(rows), 0.1, 0.1, seed=2)
    assert a["split"].to_list() == b["split"].to_list() != c["split"].to_list()
    counts = dict(a.group_by("split").len().iter_rows())
    assert counts == {"train": 800, "valid": 100, "test": 100}
    per_user = splits.ratio(frame(rows), 0.1, 0.1, seed=1, per_user=True)
    assert (per_user.filter(pl.col("split") == "test").group_by("user_id").len()["len"] == 2).all()
    with pytest.raises(DataError, match="split shares"):
        splits.ratio(frame(rows), 0.6, 0.6)


def test_given_split_requires_train():
    df = frame([("1", "a", 1)])
    out = splits.given({"train": df, "test_ood": df})
    assert sorted(out["split"].to_list()) == ["test_ood", "train"]
    with pytest.raises(DataError, match="must include 'train'"):
        splits.given({"test": df})
