import polars as pl
import pytest

from recsys.data import readers
from recsys.errors import DataError
from tests.conftest import write


def test_s3rec_lines_keep_order_and_users(tmp_path):
    f = write(tmp_path / "seq.txt", "1 5 6 7\n2 7 5\n")
    df = readers.read_interactions("s3rec_lines", f)
    assert df.columns[:3] == ["user_id", "item_id", "order"]
    assert df.filter(pl.col("user_id") == "1")["item_id"].to_list() == ["5", "6", "7"]
    assert df.filter(pl.col("user_id") == "1")["order"].to_list() == [0, 1, 2]
    assert len(df) == 5


def test_s3rec_malformed_line_names_file_and_line(tmp_path):
    f = write(tmp_path / "seq.txt", "1 5 6\n2\n3 4 5\n")
    with pytest.raises(DataError) as err:
        readers.read_interactions("s3rec_lines", f)
    assert "seq.txt, line 2" in str(err.value)
    assert err.value.line == 2


def test_selfrec_weights_and_bad_lines(tmp_path):
    f = write(tmp_path / "train.txt", "0\n0 1 1\n0 2 1\n1 2 0.5\n")
    with pytest.raises(DataError, match=r"train.txt, line 1"):
        readers.read_selfrec(f)
    report = readers.ReadReport()
    df = readers.read_selfrec(f, on_bad_lines="skip", report=report)
    assert report.skipped_lines == [1]
    assert df["rating"].to_list() == [1.0, 1.0, 0.5]
    with pytest.raises(DataError, match="on_bad_lines"):
        readers.read_selfrec(f, on_bad_lines="ignore")


def test_selfrec_non_numeric_weight_is_bad(tmp_path):
    f = write(tmp_path / "t.txt", "0 1 1\n0 2 x\n")
    with pytest.raises(DataError, match="line 2"):
        readers.read_selfrec(f)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nope.txt: file not found"):
        readers.read_interactions("selfrec", tmp_path / "nope.txt")


def test_unknown_format_lists_known(tmp_path):
    f = write(tmp_path / "x.txt", "1 2\n")
    with pytest.raises(DataError, match="unknown interaction format 'xml'.*s3rec_lines"):
        readers.read_interactions("xml", f)


def test_csv_column_mapping_and_errors(tmp_path):
    f = write(tmp_path / "r.csv", "userId,movieId,rating,timestamp\n1,10,4.5,100\n1,11,3,101\n")
    df = readers.read_table(f, "csv", columns={"user_id": "userId", "item_id": "movieId", "rating": "rating",
                                               "timestamp": "timestamp"})
    assert df["rating"].to_list() == [4.5, 3.0]
    assert df.schema["timestamp"] == pl.Float64
    with pytest.raises(DataError, match=r"r.csv, column 'movie'.*column not found"):
        readers.read_table(f, "csv", columns={"user_id": "userId", "item_id": "movie"})
    with pytest.raises(DataError, match="no column is mapped to 'item_id'"):
        readers.read_table(f, "csv", columns={"user_id": "userId"})
    bad = write(tmp_path / "bad.csv", "u,i,r\n1,2,3\n1,3,abc\n")
    with pytest.raises(DataError, match=r"bad.csv, line 3, column 'r'.*'abc' is not a number"):
        readers.read_table(bad, "csv", columns={"user_id": "u", "item_id": "i", "rating": "r"})


def test_atomic_reader_strips_types(tmp_path):
    f = write(tmp_path / "d.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t2\t5\t9\n")
    df = readers.read_table(f, "atomic")
    assert df.row(0, named=True)["timestamp"] == 9.0 and df["item_id"][0] == "2"


def test_abxi_domains_and_timestamps(tmp_path):
    f = write(tmp_path / "x.txt", "0 1|100 2|200\n1 2|50\n")
    m = write(tmp_path / "map.json", '{"A1": [1, 0], "B2": [2, 1]}')
    df = readers.read_abxi(f, item_map=m, domains=["food", "kitchen"])
    assert df["item_id"].to_list() == ["A1", "B2", "B2"]
    assert df["domain"].to_list() == ["food", "kitchen", "kitchen"]
    assert df["timestamp"].to_list() == [100.0, 200.0, 50.0]
    bad = write(tmp_path / "y.txt", "0 1|100 2\n")
    with pytest.raises(DataError, match="y.txt, line 1"):
        readers.read_abxi(bad, item_map=m)
    unknown = write(tmp_path / "z.txt", "0 9|100\n")
    with pytest.raises(DataError, match="item id 9 is not in the item map"):
        readers.read_abxi(unknown, item_map=m)


def test_tricdr_domain_offsets_and_comments(tmp_path):
    f = write(tmp_path / "mix.tsv", "# user<TAB>items\n1\t3 12 5\n")
    df = readers.read_tricdr(f, domain_offsets={"toy": 0, "game": 10})
    assert df["item_id"].to_list() == ["toy:3", "game:2", "toy:5"]
    assert df["domain"].to_list() == ["toy", "game", "toy"]


def test_json_map_errors(tmp_path):
    f = write(tmp_path / "m.json", '{"a": 1,}')
    with pytest.raises(DataError, match="m.json, line 1: invalid JSON"):
        readers.read_json_map(f)
    g = write(tmp_path / "n.json", '{"a": {"x": 1}}')
    assert readers.read_json_map(g, "a") == {"x": 1}
    with pytest.raises(DataError, match="JSON key 'b' not found"):
        readers.read_json_map(g, "b")


def test_parquet_and_tsv_tables(tmp_path):
    src = pl.DataFrame({"u": ["1", "2"], "i": ["a", "b"], "ts": [5, 6], "extra": [0.1, 0.2]})
    src.write_parquet(tmp_path / "x.parquet")
    src.write_csv(tmp_path / "x.tsv", separator="\t")
    for fmt in ("parquet", "tsv"):
        df = readers.read_interactions(fmt, tmp_path / f"x.{fmt}",
                                       columns={"user_id": "u", "item_id": "i", "timestamp": "ts"}, keep_extra=True)
        assert df["timestamp"].to_list() == [5.0, 6.0] and "extra" in df.columns
