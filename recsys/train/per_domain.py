"""Per-domain baselines for cross-domain data: one model per domain, trained on that domain's
subsequences only, each evaluated on the cases whose target lies in its domain; the per-user
results are merged into one run, comparable user by user with models trained on mixed sequences."""

from __future__ import annotations

import time

import numpy as np

from recsys.data import schema as S
from recsys.data.domain_view import domain_view
from recsys.data.prepare import PreparedDataset
from recsys.data.tensors import DatasetTensors
from recsys.eval.evaluator import EvalResult
from recsys.eval.groups import GROUP_METRICS, group_summary
from recsys.train.run import RunResult, train_run


def _merge(parts: list[EvalResult]) -> EvalResult:
    users = np.concatenate([p.users for p in parts])
    order = np.argsort(users, kind="stable")
    per_user = {k: np.concatenate([p.per_user[k] for p in parts])[order] for k in parts[0].per_user}
    groups = {k: np.concatenate([p.groups[k] for p in parts])[order] for k in parts[0].groups
              if all(k in p.groups for p in parts)}
    summary = {k: float(v.mean()) for k, v in per_user.items()}
    per_domain = tuple(k for k in per_user if k.split("@")[0] in ("hit", "ndcg", "recall", "mrr"))
    summary.update(group_summary(per_user, {"group_domain": groups["group_domain"]}, per_domain))
    summary.update(group_summary(per_user, {k: v for k, v in groups.items() if k != "group_domain"}, GROUP_METRICS))
    return EvalResult(phase=parts[0].phase, users=users[order], per_user=per_user, summary=summary,
                      tie_policy=parts[0].tie_policy, repeated_targets=sum(p.repeated_targets for p in parts),
                      groups=groups, extra={"per_domain_models": True})


def train_per_domain(model: str, ds: PreparedDataset, overrides: dict | None = None, seed: int = 1,
                     name: str | None = None) -> RunResult:
    """Train ``model`` once per domain of ``ds``; one merged RunResult (``<model> per domain``)."""
    t0 = time.perf_counter()
    domains = sorted(ds.interactions[S.DOMAIN].drop_nulls().unique().to_list())
    runs = {d: train_run(model, domain_view(ds, d), overrides, seed=seed,
                         tensors=DatasetTensors(domain_view(ds, d))) for d in domains}
    failed = [f"{d}: {r.error}" for d, r in runs.items() if r.status != "ok"]
    first = next(iter(runs.values()))
    result = RunResult(model=name or f"{first.model} per domain", dataset=ds.name, seed=seed,
                       status="failed" if failed else "ok", config={**first.config, "per_domain": True},
                       objective=first.objective, error="; ".join(failed) or None)
    if not failed:
        for phase in first.test:
            result.test[phase] = _merge([r.test[phase] for r in runs.values()])
    result.fit = {d: r.fit for d, r in runs.items()}
    result.fit["epochs_run"] = sum(r.fit.get("epochs_run", 0) for r in runs.values())
    result.wall_seconds = time.perf_counter() - t0
    result.peak_memory_mb = max(r.peak_memory_mb for r in runs.values())
    return result
