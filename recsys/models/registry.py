"""One registry for our models and RecBole's own, looked up by name.

RecBole's general, sequential and context-aware models are listed from their package
``__init__`` files (no import until one is used) and run unchanged. Our models register
with ``register_model`` from their own module; ``MODEL_PACKAGES`` lists where they live.
A spec says what a model is for (its task) and which LLM-side artefacts it needs.
"""

from __future__ import annotations

import difflib
import importlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from recsys.errors import RecsysError

TASKS = ("sequential", "general", "context", "cross_domain", "multi_scenario")
_RECBOLE_PACKAGES = {
    "general": "recbole.model.general_recommender",
    "sequential": "recbole.model.sequential_recommender",
    "context": "recbole.model.context_aware_recommender",
}
#: Our model packages, imported on first registry use (each module calls ``register_model``).
MODEL_PACKAGES: tuple[str, ...] = ("recsys.models.general", "recsys.models.sequential", "recsys.models.cross_domain",
                                  "recsys.models.graph", "recsys.models.context")

#: Causal sequential models whose per-position outputs are valid next-item representations, so the
#: one-sequence-per-user objective (loss at every position) applies to them unchanged.
FULL_SEQUENCE_RECBOLE = frozenset({"SASRec", "GRU4Rec"})


class UnknownModel(RecsysError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    source: str  # "recsys" or "recbole"
    loader: Callable[[], type] = field(compare=False, repr=False)
    needs: tuple[str, ...] = ()
    full_sequence: bool = False
    description: str = ""
    run_type: str = "train"  # how a run of it is made (recsys.bench.run_types): train | tta | periodic

    def load(self) -> type:
        return self.loader()


_OURS: dict[str, ModelSpec] = {}


RUN_TYPES = ("train", "tta", "score_blend", "periodic")


def register_model(name: str, task: str, *, needs: tuple[str, ...] = (), full_sequence: bool = False,
                   description: str = "", run_type: str = "train"):
    """Class decorator for our models: ``@register_model("H2Rec", "sequential", needs=("sids",))``.

    ``needs``: arrays the pipeline builds before training (``recsys.llm.inputs``); ``full_sequence``:
    the one-sequence-per-user objective applies; ``run_type``: ``train`` unless the model is made
    from another one's weights (``tta``)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}")
    if run_type not in RUN_TYPES:
        raise ValueError(f"run_type must be one of {RUN_TYPES}")

    def wrap(cls):
        _OURS[name] = ModelSpec(name, task, "recsys", lambda: cls, tuple(needs), full_sequence,
                                description or (cls.__doc__ or "").strip().split("\n")[0], run_type)
        return cls

    return wrap


def _no_class(name: str) -> Callable[[], type]:
    def load():
        raise UnknownModel(f"{name} is a suite strategy, not a model class: use it as a suite entry "
                           f"(model = \"{name}\", see docs/merging.md)")

    return load


#: Suite strategies that are not model classes: entries with ``model = "Merge"`` run the periodic-update
#: protocol around their ``backbone`` (``recsys.merging.periodic``).
STRATEGIES = {"Merge": ModelSpec("Merge", "sequential", "recsys", _no_class("Merge"), run_type="periodic",
                                 description="periodic-update strategies around a backbone: retrain, latest, "
                                             "or a merge of period fine-tunes"),
              "PopBlend": ModelSpec("PopBlend", "sequential", "recsys", _no_class("PopBlend"),
                                    run_type="score_blend",
                                    description="a trained model's scores + lambda * item popularity, lambda "
                                                "chosen on validation (the control beside test-time methods)")}


def recbole_model_modules(package: str) -> list[tuple[str, str]]:
    """(class name, module) pairs from a RecBole model package's ``__init__``, without importing it."""
    spec = importlib.util.find_spec(package.split(".")[0])
    if spec is None or spec.submodule_search_locations is None:
        return []
    init = Path(spec.submodule_search_locations[0]).joinpath(*package.split(".")[1:], "__init__.py")
    if not init.is_file():
        return []
    pairs = re.findall(r"^from (\S+) import (\w+)\s*$", init.read_text(), flags=re.M)
    return [(name, module) for module, name in pairs]


def _recbole_loader(module: str, name: str) -> Callable[[], type]:
    def load():
        import recsys  # noqa: F401  (compat patches first)

        return getattr(importlib.import_module(module), name)

    return load


@lru_cache(maxsize=1)
def _all() -> dict[str, ModelSpec]:
    import recsys  # noqa: F401  (compat patches before any RecBole import)

    for package in MODEL_PACKAGES:
        importlib.import_module(package)
    specs: dict[str, ModelSpec] = {}
    for task, package in _RECBOLE_PACKAGES.items():
        for name, module in recbole_model_modules(package):
            specs[name] = ModelSpec(name, task, "recbole", _recbole_loader(module, name),
                                    full_sequence=name in FULL_SEQUENCE_RECBOLE,
                                    description=f"RecBole 1.2.1 {task} model (baseline, unchanged)")
    specs.update(_OURS)  # ours win on a name clash
    return specs


def list_models(task: str | None = None) -> list[ModelSpec]:
    return [s for s in _all().values() if task is None or s.task == task]


def get_model_spec(name: str) -> ModelSpec:
    """A model's spec by name (case-insensitive), or a suite strategy's; unknown names get close matches."""
    specs = {**_all(), **STRATEGIES}
    if name in specs:
        return specs[name]
    lower = {k.lower(): k for k in specs}
    if name.lower() in lower:
        return specs[lower[name.lower()]]
    close = difflib.get_close_matches(name, list(specs), n=5, cutoff=0.5)
    close += [k for k in specs if name.lower() in k.lower() and k not in close][:3]
    hint = f"did you mean: {', '.join(close)}?" if close else "see `recsys models`"
    raise UnknownModel(f"unknown model {name!r}; {hint}")
