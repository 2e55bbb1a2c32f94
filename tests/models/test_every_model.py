"""Every registered model of ours trains one epoch on a small real dataset of its task and scores.

The list comes from the registry, so a newly registered model is covered without touching this file
(RecBole's ``test_model_auto`` does the same for its models). Datasets: the embedded ml-100k for
sequential and general models, ms-ml-100k (the same ratings with user features, CTR) for context and
multi-scenario models, cdr-ml-genres (ml-latest-small split by genre) for cross-domain models.
"""

from __future__ import annotations

import math

import pytest

from recsys.bench.run_types import RUN_TYPES, ensure_backbone, train_model
from recsys.data import prepare
from recsys.models.registry import list_models

OURS = sorted((s for s in list_models() if s.source == "recsys"), key=lambda s: s.name)
DATASET_OF_TASK = {"sequential": "ml-100k", "general": "ml-100k", "context": "ms-ml-100k",
                   "multi_scenario": "ms-ml-100k", "cross_domain": "cdr-ml-genres"}
ONE_EPOCH = {"epochs": 1, "progress": False, "stopping_step": 1}


@pytest.fixture(scope="module")
def datasets(request):
    cache = {}

    def get(task: str):
        name = DATASET_OF_TASK[task]
        if name not in cache:
            data_dir = request.getfixturevalue("shared_data") if task == "cross_domain" else None
            cache[name] = prepare(name, data_dir, progress=False)
        return cache[name]

    return get


def test_every_task_and_run_type_has_a_smoke_dataset():
    assert OURS and {s.task for s in OURS} <= set(DATASET_OF_TASK)
    assert {s.run_type for s in OURS} <= set(RUN_TYPES)


@pytest.mark.slow
@pytest.mark.parametrize("spec", OURS, ids=[s.name for s in OURS])
def test_model_trains_one_epoch_and_scores(spec, datasets, tmp_path):
    ds = datasets(spec.task)
    if spec.run_type == "tta":  # made from a trained backbone: one epoch of SASRec, then augmented
        from recsys.train.tta import tta_run

        ckpt = tmp_path / "backbone"
        ensure_backbone(ckpt, "SASRec", ds, ONE_EPOCH, seed=1)
        result = tta_run(ckpt, ds, "TMask-R", {"copies": 2}, seed=1)
    else:
        result = train_model(spec.name, ds, ONE_EPOCH, seed=1)
    assert result.status == "ok", result.error
    summary = result.test["test"].summary
    if spec.task in ("context", "multi_scenario"):
        assert 0.5 < summary["auc"] <= 1.0 and math.isfinite(summary["logloss"])
    else:
        assert 0.0 < summary["ndcg@10"] <= 1.0
        assert spec.run_type == "tta" or result.fit["epochs_run"] >= 1  # tta trains nothing itself
