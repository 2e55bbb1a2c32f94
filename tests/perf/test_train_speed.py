"""Benchmark: training throughput against RecBole's own pipeline, side by side, same hyperparameters.

Ratios measured in one run on the same machine (each side in its own child process). The
full figures for the README come from `recsys perf train` (docs/performance.md).
"""

from recsys.perf.train import compare_train

HYPER = {"hidden_size": 32, "inner_size": 64, "n_layers": 1, "n_heads": 1, "MAX_ITEM_LIST_LENGTH": 50,
         "train_batch_size": 256}


def test_sasrec_trains_5x_faster_than_recbole_at_equal_or_better_accuracy():
    r = compare_train("SASRec", "ml-100k", epochs=1, hyper=HYPER)
    print(f"\nSASRec ml-100k: train {r['train_speedup']:.1f}x ({r['train_targets_per_s_ours']:.0f} vs "
          f"{r['train_targets_per_s_recbole']:.0f} targets/s), eval {r['eval_speedup']:.1f}x, "
          f"NDCG@10 {r['ndcg10_ours']:.4f} vs {r['ndcg10_recbole']:.4f}, "
          f"peak {r['peak_memory_mb_ours']:.0f} vs {r['peak_memory_mb_recbole']:.0f} MB")
    assert r["train_speedup"] >= 5.0, r
    assert r["ndcg10_ours"] >= r["ndcg10_recbole"], r


def test_bpr_full_sort_evaluation_2x_faster_than_recbole():
    r = compare_train("BPR", "ml-100k", epochs=2, hyper={"train_batch_size": 2048})
    print(f"\nBPR ml-100k: train {r['train_speedup']:.1f}x, eval {r['eval_speedup']:.1f}x "
          f"({r['eval_users_per_s_ours']:.0f} vs {r['eval_users_per_s_recbole']:.0f} users/s)")
    assert r["eval_speedup"] >= 2.0, r
    assert r["train_speedup"] >= 1.0, r
