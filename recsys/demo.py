"""``make demo``: prepare the embedded ml-100k and run RecBole baselines through the bridge.

A stand-in for the benchmark suite runner (``recsys bench``) until it exists: it shows
the data pipeline and the RecBole bridge end to end and prints a small leaderboard.
"""

from __future__ import annotations

import time

#: Small, CPU-friendly settings; the same for every run so the table is comparable.
DEMO_MODELS = {
    "Pop": {"epochs": 1},
    "BPR": {"epochs": 10, "train_batch_size": 2048, "learning_rate": 0.002, "embedding_size": 64},
    "SASRec": {"epochs": 5, "MAX_ITEM_LIST_LENGTH": 20, "hidden_size": 32, "inner_size": 64, "n_layers": 1,
               "n_heads": 1, "train_batch_size": 2048, "learning_rate": 0.005},
}


def run_demo(quick: bool = False) -> list[dict]:
    from recsys.data import prepare
    from recsys.recbole_bridge import run_recbole

    ds = prepare("ml-100k")
    s = ds.describe()
    print(f"dataset ml-100k: {s['users']} users, {s['items']} items, {s['interactions']} interactions, "
          f"leave-one-out split, fingerprint {ds.fingerprint[:12]}")
    rows = []
    for name, overrides in DEMO_MODELS.items():
        cfg = dict(overrides)
        if quick:
            cfg["epochs"] = max(1, cfg["epochs"] // 2)
        t0 = time.perf_counter()
        print(f"running {name} through RecBole's own pipeline ({cfg['epochs']} epochs) ...", flush=True)
        result = run_recbole(name, ds, cfg)
        rows.append({"model": name, **result["test"], "seconds": time.perf_counter() - t0})
    rows.sort(key=lambda r: -r["ndcg@10"])
    print("\n| model | NDCG@10 | Recall@10 | MRR@10 | time (s) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['ndcg@10']:.4f} | {r['recall@10']:.4f} | {r['mrr@10']:.4f} | {r['seconds']:.1f} |")
    print("\nfull ranking over all items, training items masked, test = each user's last interaction (1 seed)")
    return rows
