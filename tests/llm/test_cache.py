import numpy as np
import pytest

from recsys.errors import DataError
from recsys.llm.cache import TextCache, VectorCache, cache_key


def test_text_cache_persists_and_detects_damage(tmp_path):
    c = TextCache("t", root=tmp_path)
    k = cache_key(backend="b", prompt="p")
    c.put([{"key": k, "backend": "b", "model": "m", "is_llm": True, "output": "hello"}])
    assert TextCache("t", root=tmp_path).get(k)["output"] == "hello"
    assert c.put([{"key": k, "output": "again"}]) is None  # already there: nothing written
    shard = next((tmp_path / "text" / "t").glob("*.parquet"))
    shard.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"shard-.*parquet: damaged cache shard"):
        TextCache("t", root=tmp_path)


def test_vector_cache_round_trip_and_partial_shards(tmp_path):
    c = VectorCache("v", root=tmp_path)
    vecs = np.arange(12, dtype=np.float32).reshape(3, 4)
    c.put(["a", "b", "c"], vecs)
    d = VectorCache("v", root=tmp_path)
    assert np.array_equal(d.get_many(["c", "a"]), vecs[[2, 0]])
    # a shard whose keys file never got written (a crash mid-write) is ignored, not half-read
    np.save(tmp_path / "vectors" / "v" / "shard-zzz.npy", vecs)
    assert len(VectorCache("v", root=tmp_path)) == 3
    assert not list((tmp_path / "vectors").rglob("*.tmp"))
