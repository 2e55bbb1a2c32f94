"""recsys data align-ids: ids of two files of the same users' sequences paired by position."""

import json

from recsys.cli import main
from recsys.data.align import align_item_ids
from tests.conftest import write


def test_ids_are_paired_by_position_and_conflicts_reported(tmp_path, capsys):
    a = write(tmp_path / "a.txt", "u1 1 2 3\nu2 2 4\nu3 5 1\nu4 9 9 9\n")
    b = write(tmp_path / "b.txt", "u1 B01 B02 B03\nu2 B02 B04\nu3 B05 B01\nu4 X\nu9 B07 B08\n")
    mapping, report = align_item_ids(a, b)
    assert mapping == {"1": "B01", "2": "B02", "3": "B03", "4": "B04", "5": "B05"}
    assert report["users_shared"] == 4 and report["users_skipped_length"] == 1
    bad = write(tmp_path / "c.txt", "u1 B01 B02 B03\nu2 B09 B04\nu3 B05 B01\n")
    mapping, report = align_item_ids(a, bad)
    assert "2" not in mapping and report["items_conflicting"] == 1  # 2 pairs with B02 and B09: not guessed
    assert main(["data", "align-ids", str(a), str(b), "--out", str(tmp_path / "map.json")]) == 0
    assert json.loads((tmp_path / "map.json").read_text())["5"] == "B05"
