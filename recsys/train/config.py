"""A run's settings: the keys our loop reads, their defaults and checks, and RecBole's ``Config``
for the model (its own defaults plus the model-side overrides).

Unknown keys and wrong values are errors that name the key, before RecBole sees any value.
"""

from __future__ import annotations

import re

from recsys.data.prepare import PreparedDataset
from recsys.data.recipe import CTR_TASKS
from recsys.errors import ConfigError
from recsys.eval.ranking import TIE_POLICIES
from recsys.io.paths import cache_dir
from recsys.models.protocol import INPUT_KEYS, config_defaults, default_phases
from recsys.models.registry import ModelSpec
from recsys.nn.attention import ATTENTION_KEYS, ATTENTION_KINDS
from recsys.nn.sampled_softmax import DISTRIBUTIONS
from recsys.recbole.bridge import (
    _without_command_line,
    check_known_keys,
    recbole_defaults,
)
from recsys.train.objectives import OBJECTIVES, SAMPLED_LOSS_DEFAULTS
from recsys.train.precision import PRECISIONS
from recsys.train.trainer import Phase, TrainerSettings

#: Keys our loop reads (RecBole's names where RecBole has the same setting).
TRAINER_KEYS = {
    "epochs", "learning_rate", "weight_decay", "stopping_step", "valid_metric", "eval_step", "clip_grad_norm",
    "scheduler", "phases", "tie_policy", "topk", "eval_batch_size", "train_batch_size", "objective",
    "progress", "threads", "MAX_ITEM_LIST_LENGTH", "length_buckets", "sequence_loss", "precision",
    "catalogue_chunk", "target_domain_loss", "min_epochs", "max_epochs", "max_minutes", "eval_every", "eval_negatives",
    *SAMPLED_LOSS_DEFAULTS, *ATTENTION_KEYS,
}
DEFAULTS = {"epochs": 50, "train_batch_size": 256, "eval_batch_size": 1024, "learning_rate": 1e-3,
            "stopping_step": 10, "valid_metric": "ndcg@10", "objective": "auto", "tie_policy": "pessimistic",
            "topk": [5, 10, 20]}
#: CTR datasets: Scenario-Wise Rec's batch size and its selection on validation AUC.
CTR_DEFAULTS = {"train_batch_size": 4096, "eval_batch_size": 8192, "valid_metric": "auc", "stopping_step": 4}




TRAINER_RULES = {  # key: (check, what is expected)
    "epochs": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "learning_rate": (lambda v: _is_num(v) and 0 < v < float("inf"), "a number > 0"),
    "train_batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "eval_batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "stopping_step": (lambda v: _is_int(v) and v >= 1, "an integer >= 1 (evaluations without improvement)"),
    "eval_step": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "eval_every": (lambda v: _is_int(v) and v >= 1, "an integer >= 1 (validate every k epochs; = eval_step)"),
    "min_epochs": (lambda v: _is_int(v) and v >= 0, "an integer >= 0 (patience counts from this epoch on)"),
    "max_epochs": (lambda v: _is_int(v) and v >= 1,
                   "an integer >= 1 (the convergence guard may extend epochs up to this cap)"),
    "max_minutes": (lambda v: _is_num(v) and v > 0, "a number of minutes > 0 (stop cleanly, best weights kept)"),
    "eval_negatives": (lambda v: _is_int(v) and v >= 0,
                       "an integer >= 0 (also rank each test target among this many sampled negatives; 0: off)"),
    "weight_decay": (lambda v: v is None or (_is_num(v) and v >= 0), "a number >= 0"),
    "threads": (lambda v: v is None or (_is_int(v) and v >= 1), "an integer >= 1"),
    "topk": (lambda v: isinstance(v, (list, tuple)) and v and all(_is_int(k) and k >= 1 for k in v),
             "a list of integers >= 1, e.g. [10, 20]"),
    "valid_metric": (lambda v: isinstance(v, str) and v, "a metric name, e.g. ndcg@10 or auc"),
    "tie_policy": (lambda v: v in TIE_POLICIES, f"one of {', '.join(TIE_POLICIES)}"),
    "precision": (lambda v: v in PRECISIONS, f"one of {', '.join(PRECISIONS)} (docs/performance.md)"),
    "target_domain_loss": (lambda v: isinstance(v, bool),
                           "true or false (train against the target domain's items only: cross-domain data)"),
    "catalogue_chunk": (lambda v: _is_int(v) and v >= 0,
                        "an integer >= 0 (targets per chunk of the catalogue softmax; 0: one block)"),
    "sampled_negatives": (lambda v: _is_int(v) and v >= 1, "an integer >= 1 (negatives of the sampled losses)"),
    "sampled_distribution": (lambda v: v in DISTRIBUTIONS, f"one of {', '.join(DISTRIBUTIONS)}"),
    "gbce_t": (lambda v: _is_num(v) and 0 <= v <= 1, "a number in [0, 1] (gSASRec's calibration t)"),
    "attention": (lambda v: v in ATTENTION_KINDS, f"one of {', '.join(ATTENTION_KINDS)}"),
    "attention_window": (lambda v: _is_int(v) and v >= 1, "an integer >= 1 (keys a query sees)"),
    "attention_distance_window": (lambda v: _is_int(v) and v >= 0, "an integer >= 0 (0: no distance bias)"),
    "attention_sigmoid_bias": (lambda v: _is_num(v), "a number"),
}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and v == v


def check_values(overrides: dict, defaults: dict, model: str) -> None:
    """Wrong types and out-of-range values are errors that name the key, the value and what is expected.

    Trainer keys have explicit rules; a model key must have the type of its default (an integer where
    the default is an integer, a number where it is a float, a list where it is a list ...), a
    dropout is in [0, 1), and a positive integer default (sizes, layers, heads) stays positive.
    """
    for key, value in overrides.items():
        if key in TRAINER_RULES:
            ok, what = TRAINER_RULES[key]
            if not ok(value):
                raise ConfigError(f"{model}: {key} = {value!r}: expected {what}")
            continue
        default = defaults.get(key)
        if default is None or key in INPUT_KEYS:
            continue
        what = None
        if isinstance(default, bool):
            what = None if isinstance(value, bool) else "true or false"
        elif _is_int(default):
            what = None if _is_int(value) else "an integer"
            if what is None and default > 0 and value < 1:
                what = "an integer >= 1"
        elif isinstance(default, float):
            what = None if _is_num(value) else "a number"
        elif isinstance(default, str):
            what = None if isinstance(value, str) else "a string"
        elif isinstance(default, (list, tuple)):
            what = None if isinstance(value, (list, tuple)) else f"a list like {list(default)!r}"
        if what is None and "dropout" in key and _is_num(value) and not 0 <= value < 1:
            what = "a probability in [0, 1)"
        if what is not None:
            raise ConfigError(f"{model}: {key} = {value!r}: expected {what} (default {default!r})")



def recbole_model_config(spec: ModelSpec, ds: PreparedDataset, overrides: dict, seed: int):
    """RecBole's ``Config`` for the model: its defaults plus the model-side overrides."""
    from recbole.config import Config

    cls = spec.load()
    cfg = {"seed": seed, "show_progress": False, "state": "ERROR", "log_wandb": False,
           "data_path": str(cache_dir() / "recbole" / "unused"), "train_neg_sample_args": None,
           "checkpoint_dir": str(cache_dir() / "recbole" / "saved")}
    if ds.task in CTR_TASKS:  # RecBole's context models: label and dense fields
        cfg.update(LABEL_FIELD="label", numerical_features=list(ds.meta["context_fields"]["dense"]))
    # RecBole merges any key it is given, so "known" means: defined by RecBole's own yaml files
    # (overall, model, dataset) or read by our trainer. Checked before RecBole sees any value.
    defaults = {**recbole_defaults(cls, ds.name), **config_defaults(cls)}
    known = set(defaults) | TRAINER_KEYS
    if spec.needs:
        known |= set(INPUT_KEYS)
    check_known_keys(overrides, known, spec.name, "keys are RecBole's names plus recsys's trainer keys, "
                                                  "see docs/training.md")
    check_values(overrides, defaults, spec.name)
    cfg.update({k: v for k, v in overrides.items()
                if (k not in TRAINER_KEYS or k in ("MAX_ITEM_LIST_LENGTH",)) and k not in INPUT_KEYS})
    with _without_command_line():
        config = Config(model=cls, dataset=ds.name, config_dict=cfg)
    return cls, config


def run_settings(spec: ModelSpec, ds: PreparedDataset, overrides: dict) -> dict:
    """The run's settings: our defaults (CTR ones on CTR data) under the overrides; a model/data task
    mismatch and an unknown objective are errors."""
    ctr = ds.task in CTR_TASKS
    ctr_model = spec.task in ("context", "multi_scenario")
    # RecBole's context models may also rank (pointwise, sampled negatives); ours are CTR-only
    if (ctr and not ctr_model) or (not ctr and ctr_model and spec.source == "recsys"):
        raise ConfigError(f"{spec.name} is a {spec.task} model and {ds.name} a {ds.task} dataset: "
                          + ("CTR datasets train context models (recsys models --task context / multi_scenario)"
                             if ctr else "context (CTR) models need a ctr or multi_scenario dataset, e.g. ms-ml-100k"))
    settings = {**DEFAULTS, **(CTR_DEFAULTS if ctr else {}), **overrides}
    if "eval_every" in settings and "eval_step" in overrides and settings["eval_every"] != settings["eval_step"]:
        raise ConfigError(f"eval_every = {settings['eval_every']} and eval_step = {settings['eval_step']} "
                          "name the same setting; give one")
    if settings["objective"] not in OBJECTIVES:
        raise ConfigError(f"objective must be one of {OBJECTIVES}, got {settings['objective']!r}")
    return settings


def check_topk(settings: dict, ds: PreparedDataset, n_items: int) -> None:
    if ds.task not in CTR_TASKS and max(settings["topk"]) > n_items:
        raise ConfigError(f"topk = {list(settings['topk'])}: {ds.name} has only {n_items} items; "
                          f"give topk values of at most {n_items} (--set 'topk=[5, 10]')")


def training_phases(cls, model, settings: dict) -> list[Phase]:
    """The run's phases (``phases`` key, else the model's ``default_phases``); each ``trainable``
    pattern must match a parameter."""
    schedule = settings.get("phases") or default_phases(cls, settings)
    try:
        phases = [Phase(**p) for p in schedule]
    except TypeError as exc:
        raise ConfigError(f"phases: {exc} (keys: epochs, learning_rate, trainable, name, optimizer, weight_decay, "
                          "clip_grad_norm, scheduler)") from exc
    names = [n for n, _ in model.named_parameters()]
    for ph in phases:
        if ph.trainable is not None and not any(re.search(ph.trainable, n) for n in names):
            raise ConfigError(f"phase {ph.name!r}: no parameter matches trainable={ph.trainable!r}; "
                              f"parameters: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}")
    return phases


def trainer_settings(settings: dict, objective: str, phases: list[Phase]) -> TrainerSettings:
    clip = settings.get("clip_grad_norm")
    return TrainerSettings(
        epochs=1 if objective == "positives" else int(settings["epochs"]),
        learning_rate=float(settings["learning_rate"]),
        weight_decay=float(settings.get("weight_decay") or 0.0),
        stopping_step=int(settings["stopping_step"]),
        valid_metric=str(settings["valid_metric"]).lower(),
        eval_step=int(settings.get("eval_every") or settings.get("eval_step") or 1),
        clip_grad_norm=clip if not isinstance(clip, dict) else None,
        scheduler=settings.get("scheduler", "none"),
        phases=phases,
        tie_policy=settings["tie_policy"],
        topk=tuple(settings["topk"]),
        eval_batch_size=int(settings["eval_batch_size"]),
        progress=settings.get("progress"),
        precision=str(settings.get("precision", "fp32")),
        min_epochs=int(settings.get("min_epochs") or 0),
        max_epochs=int(settings["max_epochs"]) if settings.get("max_epochs") else None,
        max_minutes=float(settings["max_minutes"]) if settings.get("max_minutes") else None,
    )
