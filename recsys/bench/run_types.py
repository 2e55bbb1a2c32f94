"""Run types: how a suite entry (or ``recsys train``) becomes a result, declared, not guessed from names.

A model's spec declares its run type (``register_model(run_type=...)``, default ``train``); a suite
entry with ``per_domain = true`` runs a trainable model once per domain. ``RUN_TYPES`` maps each to
its runner:

``train``       resolve the model's LLM-side inputs (``recsys.llm.inputs``), then ``train_run``;
``per_domain``  one ``train`` per domain of a cross-domain dataset, per-user results merged;
``tta``         test-time augmentation of another entry's trained weights (TTA4SR); the backbone
                entry is trained again when its checkpoint is gone; runs after every other cell;
``score_blend`` PopBlend: a backbone entry's scores plus a popularity term, weight chosen on validation;
``periodic``    a periodic-update strategy around a backbone (retrain, latest or a merge method).

Adding a run type: subclass ``RunType``, give it a name and ``run``, add it to ``RUN_TYPES``, and
declare it on the model spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from recsys.bench.store import run_id
from recsys.bench.suite import Suite, suite_entry
from recsys.data.context_tensors import tensors_for
from recsys.data.prepare import PreparedDataset
from recsys.data.tensors import DatasetTensors
from recsys.errors import RecipeError
from recsys.llm.inputs import resolve_inputs
from recsys.models.registry import ModelSpec, get_model_spec
from recsys.train.run import RunResult, config_hash, train_run


def train_model(model: str, ds: PreparedDataset, overrides: dict | None = None, seed: int = 1,
                tensors: DatasetTensors | None = None, checkpoint: str | Path | None = None,
                init_state: dict | None = None) -> RunResult:
    """A model's LLM-side inputs resolved (when it declares needs), then trained and tested."""
    overrides = dict(overrides or {})
    tensors = tensors or tensors_for(ds)
    inputs = resolve_inputs(model, ds, tensors, overrides)
    return train_run(model, ds, overrides, seed=seed, tensors=tensors, checkpoint=checkpoint, inputs=inputs,
                     init_state=init_state)


def ensure_backbone(checkpoint: Path, backbone: str | None, ds: PreparedDataset, overrides: dict,
                    seed: int) -> RunResult | None:
    """The weights a ``tta`` model augments, at ``checkpoint``: trained there first when the file is new
    (the trained run is returned); an existing checkpoint must hold ``backbone`` when one is named."""
    import json

    from recsys.errors import RecsysError

    pt, meta = checkpoint.with_suffix(".pt"), checkpoint.with_suffix(".json")
    trained = None
    if not pt.is_file():
        if not backbone:
            raise RecsysError(f"{pt} does not exist; give --backbone to train one there first")
        trained = train_model(backbone, ds, overrides, seed=seed, checkpoint=checkpoint)
        if trained.status != "ok":
            raise RecsysError(f"backbone training failed: {trained.error}")
    saved = json.loads(meta.read_text()).get("model", "") if meta.is_file() else ""
    if backbone and saved and saved.lower() != backbone.lower():
        raise RecsysError(f"{meta} holds a {saved} model, not --backbone {backbone}")
    return trained


def checkpoint_path(rid: str) -> Path:
    """Where the runner keeps the weights of a cell that another cell (a ``tta`` entry) builds on."""
    from recsys.io.paths import cache_dir

    return cache_dir() / "checkpoints" / rid


@dataclass
class CellRun:
    """One cell as a run type sees it: the suite, its entry and options, the data and the seed.
    ``train_entry(entry, rid, chash)`` trains another entry (and keeps its result); ``checkpoint``:
    where this cell's weights go when a later cell builds on them."""

    suite: Suite
    entry: str
    overrides: dict
    ds: PreparedDataset
    tensors: DatasetTensors
    seed: int
    progress: bool | None
    checkpoint: Path | None
    train_entry: Callable[[str, str, str], RunResult]


def training_config(cell: CellRun, drop: tuple[str, ...] = ("model",)) -> dict:
    """The entry's options as training keys (runner keys dropped), the runner's progress setting as default."""
    cfg = {k: v for k, v in cell.overrides.items() if k not in drop}
    if cell.progress is not None:
        cfg.setdefault("progress", cell.progress)
    return cfg


class RunType:
    name = "train"
    after_others = False  # runs in the second wave (it reads other cells' weights)

    def check(self, suite: Suite, entry: str, overrides: dict) -> None:
        """Before anything runs: the entry's options make sense for this run type."""

    def identity(self, suite: Suite, overrides: dict) -> dict:
        """What the cell's run id hashes (its options; a run type may add what it depends on)."""
        return overrides

    def run(self, cell: CellRun) -> RunResult:
        return train_model(cell.overrides.get("model", cell.entry), cell.ds, training_config(cell), seed=cell.seed,
                           tensors=cell.tensors, checkpoint=cell.checkpoint)


class PerDomain(RunType):
    name = "per_domain"

    def run(self, cell: CellRun) -> RunResult:
        from recsys.train.per_domain import train_per_domain

        return train_per_domain(cell.overrides.get("model", cell.entry), cell.ds,
                                training_config(cell, drop=("model", "per_domain")), seed=cell.seed,
                                name=cell.entry, train=train_model)


class TestTimeAugmentation(RunType):
    name = "tta"
    after_others = True

    def check(self, suite: Suite, entry: str, overrides: dict) -> None:
        if overrides.get("backbone") not in suite.models:
            raise RecipeError(f"{entry} augments a trained entry and names backbone {overrides.get('backbone')!r}, "
                              f"which is not an entry of suite {suite.name}", key="backbone",
                              hint=f"entries: {', '.join(suite.models)}")

    def identity(self, suite: Suite, overrides: dict) -> dict:
        allowed = {"model", "backbone", "operator"} | {k for k in overrides if k.startswith("tta_")}
        return {**{k: v for k, v in overrides.items() if k in allowed},
                "backbone_config": suite_entry(suite, overrides["backbone"])}

    @staticmethod
    def backbone_checkpoint(cell: CellRun) -> Path:
        """The backbone entry's weights for this cell's dataset and seed, trained again if they are gone."""
        backbone = cell.overrides["backbone"]
        b_rid, b_chash = cell_id(cell.suite, backbone, suite_entry(cell.suite, backbone), cell.seed, cell.ds)
        ckpt = checkpoint_path(b_rid)
        if not ckpt.with_suffix(".pt").is_file():  # its weights are gone (or were made on another machine)
            cell.train_entry(backbone, b_rid, b_chash)
        return ckpt

    def run(self, cell: CellRun) -> RunResult:
        from recsys.train.tta import tta_run

        tta = {k[4:]: v for k, v in cell.overrides.items() if k.startswith("tta_")}
        return tta_run(self.backbone_checkpoint(cell), cell.ds, cell.overrides.get("operator", "TMask-R"), tta,
                       seed=cell.seed, tensors=cell.tensors, name=cell.entry)


class ScoreBlend(TestTimeAugmentation):
    """PopBlend around another entry's trained weights (``recsys.train.pop_blend``), like ``tta``."""

    name = "score_blend"

    def identity(self, suite: Suite, overrides: dict) -> dict:
        allowed = {"model", "backbone", "blend_grid"}
        return {**{k: v for k, v in overrides.items() if k in allowed},
                "backbone_config": suite_entry(suite, overrides["backbone"])}

    def run(self, cell: CellRun) -> RunResult:
        from recsys.train.pop_blend import GRID, pop_blend_run

        return pop_blend_run(self.backbone_checkpoint(cell), cell.ds, tuple(cell.overrides.get("blend_grid", GRID)), seed=cell.seed,
                             tensors=cell.tensors, name=cell.entry)


class Periodic(RunType):
    name = "periodic"

    def check(self, suite: Suite, entry: str, overrides: dict) -> None:
        get_model_spec(overrides.get("backbone", ""))

    def run(self, cell: CellRun) -> RunResult:
        from recsys.merging.periodic import periodic_run

        return periodic_run(cell.ds, {k: v for k, v in cell.overrides.items() if k != "progress"}, cell.seed,
                            cell.tensors, cell.entry)


RUN_TYPES: dict[str, RunType] = {t.name: t for t in (RunType(), PerDomain(), TestTimeAugmentation(), ScoreBlend(),
                                                     Periodic())}


def run_type_of(spec: ModelSpec, overrides: dict) -> RunType:
    """The spec's declared run type; ``per_domain = true`` turns a ``train`` entry into ``per_domain``."""
    name = spec.run_type
    if overrides.get("per_domain"):
        if name != "train":
            raise RecipeError(f"per_domain = true applies to trainable models; {spec.name} runs as {name!r}",
                              key="per_domain")
        name = "per_domain"
    return RUN_TYPES[name]


def cell_id(suite: Suite, entry: str, overrides: dict, seed: int, ds: PreparedDataset) -> tuple[str, str]:
    """(run id, config hash) of one cell: what its run type says it depends on, the data and the seed."""
    identity = entry_run_type(suite, entry).identity(suite, overrides)
    chash = config_hash({"model": entry, **identity})
    return run_id(entry, ds.fingerprint, chash, seed), chash


def entry_run_type(suite: Suite, entry: str) -> RunType:
    overrides = suite_entry(suite, entry)
    return run_type_of(get_model_spec(overrides.get("model", entry)), overrides)
