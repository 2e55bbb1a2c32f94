"""Per-domain baselines for cross-domain data: one model per domain, trained on that domain's
subsequences only, each evaluated on the cases whose target lies in its domain; the per-user
results are merged into one run, comparable user by user with models trained on mixed sequences."""

from __future__ import annotations

import time

from recsys.data import schema as S
from recsys.data.domain_view import domain_view
from recsys.data.prepare import PreparedDataset
from recsys.data.tensors import DatasetTensors
from recsys.eval.domains import merge_by_user
from recsys.train.run import RunResult, train_run


def train_per_domain(model: str, ds: PreparedDataset, overrides: dict | None = None, seed: int = 1,
                     name: str | None = None, train=train_run) -> RunResult:
    """Train ``model`` once per domain of ``ds``; one merged RunResult (``<model> per domain``).
    ``train``: the function that trains one domain (the bench passes one that resolves LLM inputs first)."""
    t0 = time.perf_counter()
    domains = sorted(ds.interactions[S.DOMAIN].drop_nulls().unique().to_list())
    views = {d: domain_view(ds, d) for d in domains}
    runs = {d: train(model, v, overrides, seed=seed, tensors=DatasetTensors(v)) for d, v in views.items()}
    failed = [f"{d}: {r.error}" for d, r in runs.items() if r.status != "ok"]
    first = next(iter(runs.values()))
    result = RunResult(model=name or f"{first.model} per domain", dataset=ds.name, seed=seed,
                       status="failed" if failed else "ok", config={**first.config, "per_domain": True},
                       objective=first.objective, loss_family=first.loss_family,
                       loss=first.loss, error="; ".join(failed) or None)
    if not failed:
        for phase in first.test:
            result.test[phase] = merge_by_user([r.test[phase] for r in runs.values()], {"per_domain_models": True})
    result.fit = {d: r.fit for d, r in runs.items()}
    result.fit["epochs_run"] = sum(r.fit.get("epochs_run", 0) for r in runs.values())
    result.wall_seconds = time.perf_counter() - t0
    result.peak_memory_mb = max(r.peak_memory_mb for r in runs.values())
    return result
