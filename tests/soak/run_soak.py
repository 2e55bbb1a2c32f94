"""Soak test (not part of the default test run): a suite of many short runs, killed at random.

    python tests/soak/run_soak.py --runs 40 --seconds 600

Starts ``recsys bench`` on a suite of ``--runs`` one-epoch logistic-regression runs (ms-ml-100k,
embedded, one seed per run), SIGKILLs it after a random delay, starts it again, and so on until a
start finishes on its own. Then checks: every cell is in the store exactly once, nothing was lost,
no temporary debris is left, every record has its per-sample file, and the store consolidates.
Prints one JSON line with the figures; exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=80, help="cells in the suite (one seed each)")
    ap.add_argument("--seconds", type=float, default=900, help="give up after this long")
    ap.add_argument("--min-delay", type=float, default=4.0, help="shortest time before a kill (start-up takes ~4 s)")
    ap.add_argument("--max-delay", type=float, default=7.0, help="longest time before a kill")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="recsys-soak-"))
    suite = work / "soak.toml"
    suite.write_text(f'name = "soak"\ndatasets = ["ms-ml-100k"]\nseeds = {list(range(1, args.runs + 1))}\n'
                     '[defaults]\nepochs = 3\nlearning_rate = 0.01\n[models.LR]\n')
    store_dir = work / "store"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RECSYS_CACHE": str(work / "cache")}
    cmd = [sys.executable, "-m", "recsys.cli", "bench", "--suite", str(suite), "--results", str(store_dir), "--quiet"]
    kills = starts = 0
    finished = False
    t0 = time.time()
    while time.time() - t0 < args.seconds:
        starts += 1
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, err = proc.communicate(timeout=rng.uniform(args.min_delay, args.max_delay))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        if proc.returncode != 0:
            print(err, file=sys.stderr)
            return 1
        finished = True
        break

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from recsys.bench.store import ResultsStore

    store = ResultsStore(store_dir)
    records = store.records()  # raises on a damaged record
    per_seed = collections.Counter(r["seed"] for r in records if r["status"] == "ok")
    lost = [s for s in range(1, args.runs + 1) if per_seed[s] == 0]
    duplicates = sum(n - 1 for n in per_seed.values() if n > 1) + (len(records) - len({r["run_id"] for r in records}))
    missing_vectors = [r["run_id"] for r in records
                       if not (store_dir / "per_user" / f"{r['run_id']}.test.parquet").is_file()]
    debris = [str(p) for p in store_dir.rglob("*.tmp-*")]
    rows = len(store.consolidate())
    report = {"runs": args.runs, "starts": starts, "kills": kills, "finished": finished, "records": len(records),
              "runs_lost": len(lost), "duplicates": duplicates, "missing_vectors": len(missing_vectors),
              "debris": len(debris), "consolidated_rows": rows, "seconds": round(time.time() - t0, 1)}
    print(json.dumps(report))
    ok = finished and not lost and duplicates == 0 and not missing_vectors and not debris and rows == args.runs
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
