"""Benchmark: data preparation against RecBole's, measured side by side in one process.

A ratio, not a wall-clock bound: both sides run on the same machine at the same time.
"""

from recsys.perf.prepare import compare_prepare


def test_prepare_at_least_3x_faster_than_recbole():
    result = compare_prepare("ml-100k", model="SASRec", repeats=3)
    print(f"\nml-100k prepare: recsys {result['recsys_seconds']:.3f} s, RecBole {result['recbole_seconds']:.3f} s, "
          f"speedup {result['speedup']:.1f}x")
    assert result["speedup"] >= 3.0, result
