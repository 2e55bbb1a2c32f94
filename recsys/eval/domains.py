"""Cross-domain evaluation: each test case is ranked among its target domain's items only.

In cross-domain sequential recommendation a user's next item belongs to one domain (the
*target domain* of that case); the candidates are that domain's items. ``evaluate_by_domain``
runs the full-ranking evaluator once per domain on the users whose target is in it, with the
domain's items as the candidate mask, and merges the per-user results: overall means over all
users, and per-domain means named ``<metric>|domain:<name>`` (per-user files carry
``group_domain``, so the leaderboard tests per-domain figures on that domain's users).

``sampled_negatives`` gives the papers' protocol for comparison: for each user, ``n`` negatives
drawn once from the target domain's items the user never had, saved with the dataset
fingerprint so every model and every rerun sees the same ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from recsys.data import schema as S
from recsys.data.tensors import DatasetTensors
from recsys.eval.evaluator import DEFAULT_KS, EvalResult, ScoreFn, evaluate
from recsys.eval.groups import GROUP_METRICS, GroupSpec, group_summary


def item_domains(tensors: DatasetTensors) -> tuple[list[str], np.ndarray]:
    """(domain names, domain code per item index; -1 for padding) from the prepared items table."""
    items = tensors.ds.items
    if S.DOMAIN not in items.columns or items[S.DOMAIN].null_count() == len(items):
        raise ValueError(f"{tensors.ds.name} has no item domains; cross-domain evaluation needs a recipe that "
                         "assigns each item a domain (see docs/datasets.md, cross-domain recipes)")
    names = sorted(items[S.DOMAIN].drop_nulls().unique().to_list())
    codes = np.full(tensors.n_items + 1, -1, dtype=np.int64)
    lookup = {n: i for i, n in enumerate(names)}
    codes[items[S.ITEM_IDX].to_numpy()] = [lookup.get(d, -1) for d in items[S.DOMAIN].to_list()]
    return names, codes


def target_domains(tensors: DatasetTensors, phase: str, codes: np.ndarray) -> np.ndarray:
    """Domain code of each evaluated user's target (one target per user: leave-one-out on the mixed sequence)."""
    _, targets = tensors.targets(phase)
    if targets.shape[1] != 1:
        raise ValueError(f"cross-domain evaluation needs one {phase} target per user (leave-one-out on the mixed "
                         f"sequence); {tensors.ds.name} has up to {targets.shape[1]}")
    return codes[targets[:, 0].numpy()]


def sampled_negatives(tensors: DatasetTensors, phase: str = "test", n: int = 100, seed: int = 0,
                      cache: Path | None = None) -> torch.Tensor:
    """[users, n] negatives per evaluated user (the papers' sampled protocol): uniform over its target's
    domain on cross-domain data, over the whole catalogue elsewhere; never its history or its target.

    Drawn once per (dataset fingerprint, phase, n, seed) and saved under ``<cache>/negatives``: every
    model and seed is evaluated against the same negatives.
    """
    from recsys.io.paths import cache_dir

    path = (cache or cache_dir() / "negatives") / f"{tensors.ds.name}-{tensors.ds.fingerprint[:16]}-{phase}-n{n}-s{seed}.npy"
    if path.is_file():
        return torch.from_numpy(np.load(path, allow_pickle=False))
    users, targets = tensors.targets(phase)
    if tensors.ds.task == "cross_domain":
        names, codes = item_domains(tensors)
        domain = target_domains(tensors, phase, codes)
    else:  # one pool: every item (index 0 is padding)
        names, codes = ["all"], np.zeros(tensors.n_items + 1, dtype=np.int64)
        codes[0] = -1
        domain = np.zeros(len(users), dtype=np.int64)
    history = tensors.history(phase)
    rng = np.random.default_rng(seed)
    out = np.zeros((len(users), n), dtype=np.int64)
    pools = {d: np.flatnonzero(codes == d) for d in range(len(names))}
    pool_sets = {d: set(pool.tolist()) for d, pool in pools.items()}
    for row, (u, d) in enumerate(zip(users, domain)):
        banned = set(history[u].tolist()) | {int(t) for t in targets[row].tolist() if t >= 0}
        pool = pools[int(d)]
        if len(pool) - len(banned & pool_sets[int(d)]) < n:
            raise ValueError(f"domain {names[d]} has fewer than {n} items user {u} never had; lower n")
        picked: list[int] = []
        while len(picked) < n:
            for item in rng.choice(pool, size=2 * n, replace=False if len(pool) >= 2 * n else True):
                if int(item) not in banned and int(item) not in picked:
                    picked.append(int(item))
                    if len(picked) == n:
                        break
        out[row] = picked
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, out, allow_pickle=False)
    tmp.replace(path)
    return torch.from_numpy(out)


def evaluate_by_domain(score_fn: ScoreFn, tensors: DatasetTensors, phase: str = "test", ks=DEFAULT_KS,
                       tie_policy: str = "pessimistic", batch_size: int = 1024, seed: int = 0,
                       negatives: torch.Tensor | None = None, groups: GroupSpec | None = GroupSpec()) -> EvalResult:
    """Per-domain candidate ranking (full, or among ``negatives`` from ``sampled_negatives``), merged."""
    names, codes = item_domains(tensors)
    domain = target_domains(tensors, phase, codes)
    parts = []
    for d, name in enumerate(names):
        members = domain == d
        if not members.any():
            continue
        candidates = torch.from_numpy(codes == d)
        rows = negatives[torch.from_numpy(members)] if negatives is not None else None
        res = evaluate(score_fn, tensors, phase, ks, tie_policy, batch_size, candidates=candidates, seed=seed,
                       groups=groups, only_users=members, row_candidates=rows)
        res.groups["group_domain"] = np.full(len(res.users), f"domain:{name}", dtype=object)
        parts.append(res)
    return merge_by_user(parts, extra={"protocol": "sampled" if negatives is not None else "full",
                                       "domains": {n: int((domain == d).sum()) for d, n in enumerate(names)}})


def merge_by_user(parts: list[EvalResult], extra: dict | None = None) -> EvalResult:
    """One result from per-domain results over disjoint users (each labelled ``group_domain``).

    Users are sorted; summaries are recomputed: overall means, per-domain means of every rank
    metric, and the other groups' means for ``GROUP_METRICS``.
    """
    users = np.concatenate([p.users for p in parts])
    order = np.argsort(users, kind="stable")
    per_user = {k: np.concatenate([p.per_user[k] for p in parts])[order] for k in parts[0].per_user}
    labels = {k: np.concatenate([p.groups[k] for p in parts])[order] for k in parts[0].groups
              if all(k in p.groups for p in parts)}
    summary = {k: float(v.mean()) for k, v in per_user.items()}
    per_domain = tuple(k for k in per_user if k.split("@")[0] in ("hit", "ndcg", "recall", "mrr"))
    summary.update(group_summary(per_user, {"group_domain": labels["group_domain"]}, per_domain))
    summary.update(group_summary(per_user, {k: v for k, v in labels.items() if k != "group_domain"}, GROUP_METRICS))
    return EvalResult(phase=parts[0].phase, users=users[order], per_user=per_user, summary=summary,
                      tie_policy=parts[0].tie_policy, repeated_targets=sum(p.repeated_targets for p in parts),
                      groups=labels, extra=dict(extra or {}))
