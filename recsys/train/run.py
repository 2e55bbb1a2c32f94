"""One training run, end to end: model from the registry, RecBole config, our loop, test evaluation.

``train_run("SASRec", ds, {"epochs": 20}, seed=1)`` builds the model exactly as RecBole would
(RecBole's ``Config`` supplies its defaults; overrides use RecBole's key names), trains it with
our whole-tensor objectives and loop, and evaluates the best weights on every test split.
Unknown configuration keys are errors, with close matches.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import resource
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from recsys import distributed
from recsys.data.context_tensors import ContextTensors, tensors_for
from recsys.data.prepare import PreparedDataset
from recsys.data.recipe import CTR_TASKS
from recsys.data.tensors import DatasetTensors
from recsys.errors import RecsysError
from recsys.eval.evaluator import EvalResult
from recsys.eval.protocol import evaluate_task
from recsys.eval.ranking import TIE_POLICIES
from recsys.models.recbole_view import ContextDatasetView, TrainDatasetView
from recsys.models.registry import ModelSpec, get_model_spec
from recsys.nn.attention import ATTENTION_KEYS, ATTENTION_KINDS, use_attention
from recsys.paths import cache_dir
from recsys.train.inputs import INPUT_KEYS, model_inputs, training_tensors
from recsys.train.objectives import OBJECTIVES, build_objective, choose_objective, ctr_score_function, score_function
from recsys.train.trainer import Phase, Trainer, TrainerSettings

#: Keys our loop reads (RecBole's names where RecBole has the same setting).
TRAINER_KEYS = {
    "epochs", "learning_rate", "weight_decay", "stopping_step", "valid_metric", "eval_step", "clip_grad_norm",
    "scheduler", "phases", "tie_policy", "topk", "eval_batch_size", "train_batch_size", "objective",
    "progress", "threads", "MAX_ITEM_LIST_LENGTH", "length_buckets", "sequence_loss", *ATTENTION_KEYS,
}
DEFAULTS = {"epochs": 50, "train_batch_size": 256, "eval_batch_size": 1024, "learning_rate": 1e-3,
            "stopping_step": 10, "valid_metric": "ndcg@10", "objective": "auto", "tie_policy": "pessimistic",
            "topk": [5, 10, 20]}
#: CTR datasets: Scenario-Wise Rec's batch size and its selection on validation AUC.
CTR_DEFAULTS = {"train_batch_size": 4096, "eval_batch_size": 8192, "valid_metric": "auc", "stopping_step": 4}


class ConfigError(RecsysError, KeyError):
    def __str__(self) -> str:
        return self.args[0]


@dataclass
class RunResult:
    model: str
    dataset: str
    seed: int
    status: str  # "ok" | "failed"
    config: dict
    objective: str = ""
    test: dict[str, EvalResult] = field(default_factory=dict)
    valid: dict = field(default_factory=dict)
    fit: dict = field(default_factory=dict)
    error: str | None = None
    wall_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    llm_artefacts: list[dict] = field(default_factory=list)  # metas of the LLM-side artefacts used
    score_fn: object = field(default=None, repr=False, compare=False)  # the trained model's scorer (in memory only)

    def metric(self, name: str, phase: str = "test") -> float:
        return self.test[phase].summary[name]


def failure_message(exc: BaseException) -> str:
    """What a failed run records: the error's type and message, out-of-memory said in words."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return f"out of memory ({type(exc).__name__}: {exc}); lower train_batch_size / eval_batch_size"
    return f"{type(exc).__name__}: {exc}"


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


TRAINER_RULES = {  # key: (check, what is expected)
    "epochs": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "learning_rate": (lambda v: _is_num(v) and 0 < v < float("inf"), "a number > 0"),
    "train_batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "eval_batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "stopping_step": (lambda v: _is_int(v) and v >= 1, "an integer >= 1 (evaluations without improvement)"),
    "eval_step": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "weight_decay": (lambda v: v is None or (_is_num(v) and v >= 0), "a number >= 0"),
    "threads": (lambda v: v is None or (_is_int(v) and v >= 1), "an integer >= 1"),
    "topk": (lambda v: isinstance(v, (list, tuple)) and v and all(_is_int(k) and k >= 1 for k in v),
             "a list of integers >= 1, e.g. [10, 20]"),
    "valid_metric": (lambda v: isinstance(v, str) and v, "a metric name, e.g. ndcg@10 or auc"),
    "tie_policy": (lambda v: v in TIE_POLICIES, f"one of {', '.join(TIE_POLICIES)}"),
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


def backbone_options(model, settings: dict, name: str) -> None:
    """Options applied to a built model: the attention variant of a transformer backbone
    (``recsys.nn.attention``). Also called when a checkpoint is loaded, before its weights."""
    if not any(k in settings for k in ATTENTION_KEYS):
        return
    try:
        use_attention(model, settings.get("attention", "softmax"), int(settings.get("attention_window", 16)),
                      int(settings.get("attention_distance_window", 0)), settings.get("attention_sigmoid_bias"))
    except ValueError as exc:
        raise ConfigError(f"{name}: attention = {settings.get('attention', 'softmax')!r}: {exc}") from exc


def recbole_model_config(spec: ModelSpec, ds: PreparedDataset, overrides: dict, seed: int):
    """RecBole's ``Config`` for the model: its defaults plus the model-side overrides."""
    from recbole.config import Config

    from recsys.recbole_bridge import _without_command_line, check_known_keys, recbole_defaults

    cls = spec.load()
    cfg = {"seed": seed, "show_progress": False, "state": "ERROR", "log_wandb": False,
           "data_path": str(cache_dir() / "recbole" / "unused"), "train_neg_sample_args": None,
           "checkpoint_dir": str(cache_dir() / "recbole" / "saved")}
    if ds.task in CTR_TASKS:  # RecBole's context models: label and dense fields
        cfg.update(LABEL_FIELD="label", numerical_features=list(ds.meta["context_fields"]["dense"]))
    # RecBole merges any key it is given, so "known" means: defined by RecBole's own yaml files
    # (overall, model, dataset) or read by our trainer. Checked before RecBole sees any value.
    defaults = {**recbole_defaults(cls, ds.name), **getattr(cls, "CONFIG_DEFAULTS", {})}
    known = set(defaults) | TRAINER_KEYS | set(getattr(cls, "CONFIG_DEFAULTS", {}))
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


def item_space(ds: PreparedDataset) -> str:
    """A fingerprint of the item index (which item sits at which row of every item table): checkpoints
    can only be merged within one item space."""
    from recsys.data import schema as S

    ids = ds.items.sort(S.ITEM_IDX)[S.ITEM].cast(str).to_list()
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def build_model(model_name: str, ds: PreparedDataset, overrides: dict, seed: int, tensors: DatasetTensors):
    """The model as ``train_run`` builds it (RecBole config, backbone options), untrained; for loading weights."""
    spec = get_model_spec(model_name)
    cls, config = recbole_model_config(spec, ds, overrides, seed)
    view = ContextDatasetView if isinstance(tensors, ContextTensors) else TrainDatasetView
    model = cls(config, view(tensors, spec.name))
    backbone_options(model, overrides, spec.name)
    return model, int(config["MAX_ITEM_LIST_LENGTH"] or 50)


def train_run(model_name: str, ds: PreparedDataset, overrides: dict | None = None, seed: int = 1,
              checkpoint: str | Path | None = None, tensors: DatasetTensors | None = None,
              llm_artefacts: list[dict] | None = None, init_state: dict | None = None) -> RunResult:
    """``init_state``: start from these weights (a fine-tune) instead of the seeded initialisation."""
    spec = get_model_spec(model_name)
    overrides = dict(overrides or {})
    ctr = ds.task in CTR_TASKS
    ctr_model = spec.task in ("context", "multi_scenario")
    # RecBole's context models may also rank (pointwise, sampled negatives); ours are CTR-only
    if (ctr and not ctr_model) or (not ctr and ctr_model and spec.source == "recsys"):
        raise ConfigError(f"{spec.name} is a {spec.task} model and {ds.name} a {ds.task} dataset: "
                          + ("CTR datasets train context models (recsys models --task context / multi_scenario)"
                             if ctr else "context (CTR) models need a ctr or multi_scenario dataset, e.g. ms-ml-100k"))
    settings_dict = {**DEFAULTS, **(CTR_DEFAULTS if ctr else {}), **overrides}
    if settings_dict["objective"] not in OBJECTIVES:
        raise ConfigError(f"objective must be one of {OBJECTIVES}, got {settings_dict['objective']!r}")
    threads = int(settings_dict.get("threads") or torch.get_num_threads())
    torch.set_num_threads(threads)
    t_start = time.perf_counter()
    _seed_everything(seed)
    cls, config = recbole_model_config(spec, ds, overrides, seed)
    tensors = tensors or tensors_for(ds)
    if spec.needs:  # LLM-side artefacts and other inputs, handed to the model as arrays
        with distributed.main_first():  # rank 0 fills the artefact cache, the other ranks read it
            inputs, metas = model_inputs(spec.needs, ds, tensors,
                                         {**getattr(cls, "INPUT_DEFAULTS", {}), **settings_dict})
        for key, value in inputs.items():
            config[key] = value
        llm_artefacts = [*(llm_artefacts or []), *metas]
        if "training_augmentation" in spec.needs:  # the augmenter's items join the training sequences only
            real_text = inputs["item_text_embeddings"] * inputs["item_has_text"][:, None]
            tensors, aug_metas = training_tensors(spec.needs, ds, tensors, settings_dict, real_text)
            llm_artefacts = [*llm_artefacts, *aug_metas]
    if not ctr and max(settings_dict["topk"]) > tensors.n_items:
        raise ConfigError(f"topk = {list(settings_dict['topk'])}: {ds.name} has only {tensors.n_items} items; "
                          f"give topk values of at most {tensors.n_items} (--set 'topk=[5, 10]')")
    _seed_everything(seed)
    view = ContextDatasetView if isinstance(tensors, ContextTensors) else TrainDatasetView
    model = cls(config, view(tensors, spec.name))
    backbone_options(model, settings_dict, spec.name)
    if init_state is not None:
        model.load_state_dict(init_state)
    info = distributed.current()
    if info.device.type != "cpu":
        model = model.to(info.device)
    max_len = int(config["MAX_ITEM_LIST_LENGTH"] or 50)
    objective_name = choose_objective(model, spec, settings_dict["objective"])
    objective = build_objective(objective_name, model, tensors, int(settings_dict["train_batch_size"]), max_len,
                                bool(settings_dict.get("length_buckets", False)),
                                str(settings_dict.get("sequence_loss", "model")))
    schedule = settings_dict.get("phases") or (cls.default_phases(settings_dict) if hasattr(cls, "default_phases") else [])
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
    settings = TrainerSettings(
        epochs=1 if objective_name == "positives" else int(settings_dict["epochs"]),
        learning_rate=float(settings_dict["learning_rate"]),
        weight_decay=float(settings_dict.get("weight_decay") or 0.0),
        stopping_step=int(settings_dict["stopping_step"]),
        valid_metric=str(settings_dict["valid_metric"]).lower(),
        eval_step=int(settings_dict.get("eval_step") or 1),
        clip_grad_norm=settings_dict.get("clip_grad_norm") if not isinstance(settings_dict.get("clip_grad_norm"),
                                                                             dict) else None,
        scheduler=settings_dict.get("scheduler", "none"),
        phases=phases,
        tie_policy=settings_dict["tie_policy"],
        topk=tuple(settings_dict["topk"]),
        eval_batch_size=int(settings_dict["eval_batch_size"]),
        progress=settings_dict.get("progress"),
    )
    score_fn = ctr_score_function(model, tensors) if ctr else score_function(model, max_len)
    trainer = Trainer(model, objective, score_fn, tensors, settings, seed)
    result = RunResult(model=spec.name, dataset=ds.name, seed=seed, status="ok",
                       config={**settings_dict, "threads": threads}, objective=objective_name,
                       llm_artefacts=list(llm_artefacts or []), score_fn=score_fn)
    try:
        log = trainer.fit()
        model.eval()
        t_test = time.perf_counter()
        for phase in [s for s in tensors.split_names() if s.startswith("test")]:
            result.test[phase] = evaluate_task(score_fn, tensors, phase, settings.topk, settings.tie_policy,
                                               settings.eval_batch_size, seed=seed)
        t_test = time.perf_counter() - t_test
        result.valid = log.best_valid
        result.fit = {"epochs_run": log.epochs_run, "best_epoch": log.best_epoch, "losses": log.losses,
                      "valid_history": log.valid_history, "train_seconds": log.train_seconds,
                      "eval_seconds": log.eval_seconds, "train_targets": log.targets,
                      "targets_per_second": log.targets / log.train_seconds if log.train_seconds else 0.0,
                      "stopped_early": log.stopped_early, "test_seconds": t_test}
        if info.active:
            result.fit["distributed"] = info.describe()
        if checkpoint and info.is_main:  # one writer; every rank holds the same weights
            from recsys.train.checkpoint import save_checkpoint

            save_checkpoint(model, checkpoint, {"model": spec.name, "dataset": ds.name,
                                                "fingerprint": ds.fingerprint, "item_space": item_space(ds),
                                                "seed": seed, "config": result.config})
    except Exception as exc:  # noqa: BLE001  (any failure of the run is recorded; Ctrl-C is not caught)
        result.status, result.error = "failed", failure_message(exc)
        result.fit = {"epochs_run": trainer.log.epochs_run, "losses": trainer.log.losses,
                      "traceback": traceback.format_exc(limit=-8)}
    result.wall_seconds = time.perf_counter() - t_start
    result.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result
