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
from recsys.errors import Terminated
from recsys.eval.evaluator import EvalResult
from recsys.eval.protocol import SAMPLED_SUFFIX, evaluate_sampled, evaluate_task
from recsys.models.protocol import MissingModelInput, ModelInputs
from recsys.models.registry import ModelSpec, get_model_spec
from recsys.nn.attention import ATTENTION_KEYS, use_attention
from recsys.nn.catalogue_softmax import DEFAULT_CHUNK
from recsys.recbole.dataset_view import ContextDatasetView, TrainDatasetView
from recsys.recbole.interaction import ctr_score_function, score_function
from recsys.train.checkpoint import save_checkpoint
from recsys.train.config import (
    ConfigError,
    check_topk,
    recbole_model_config,
    run_settings,
    trainer_settings,
    training_phases,
)
from recsys.train.objectives import SAMPLED_LOSS_DEFAULTS, build_objective, choose_objective, loss_family
from recsys.train.trainer import Trainer


@dataclass
class RunResult:
    model: str
    dataset: str
    seed: int
    status: str  # "ok" | "failed"
    config: dict
    objective: str = ""
    loss_family: str = ""  # recsys.train.objectives.LOSS_FAMILIES: what a fair comparison must match
    loss: str = ""  # the loss in words, e.g. "binary cross-entropy, 1 uniform negative per target"
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


def target_domain_codes(tensors, settings: dict):
    """Item domain codes when the run trains against the target domain only (``target_domain_loss``)."""
    if not settings.get("target_domain_loss"):
        return None
    from recsys.eval.domains import item_domains

    return item_domains(tensors)[1]


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


@dataclass
class PreparedRun:
    """A run ready to fit: the built model, its objective, scorer and trainer, and what the result records."""

    spec: ModelSpec
    model: object
    tensors: DatasetTensors
    settings: dict
    objective: str
    trainer: Trainer
    score_fn: object
    threads: int
    llm_artefacts: list[dict]


def train_run(model_name: str, ds: PreparedDataset, overrides: dict | None = None, seed: int = 1,
              checkpoint: str | Path | None = None, tensors: DatasetTensors | None = None,
              llm_artefacts: list[dict] | None = None, init_state: dict | None = None,
              inputs: ModelInputs | None = None) -> RunResult:
    """Train ``model_name`` on ``ds`` and evaluate its best weights on every test split.

    ``inputs``: the model's declared needs, resolved before training (``recsys.llm.inputs.resolve_inputs``;
    required when the model has needs). ``init_state``: start from these weights (a fine-tune)
    instead of the seeded initialisation. Any failure after the model is built is recorded, not raised.
    """
    t_start = time.perf_counter()
    run = prepare_run(model_name, ds, dict(overrides or {}), seed, tensors, inputs, llm_artefacts, init_state)
    family, loss = loss_family(run.model, run.objective, run.settings)
    result = RunResult(model=run.spec.name, dataset=ds.name, seed=seed, status="ok",
                       config={**run.settings, "threads": run.threads}, objective=run.objective,
                       loss_family=family, loss=loss,
                       llm_artefacts=list(run.llm_artefacts), score_fn=run.score_fn)
    try:
        fit_and_test(run, result, seed)
        info = distributed.current()
        if checkpoint and info.is_main:  # one writer; every rank holds the same weights
            save_checkpoint(run.model, checkpoint, {"model": run.spec.name, "dataset": ds.name,
                                                    "fingerprint": ds.fingerprint, "item_space": item_space(ds),
                                                    "seed": seed, "config": result.config})
    except Exception as exc:  # noqa: BLE001  (any failure of the run is recorded; Ctrl-C is not caught)
        result.status, result.error = "failed", failure_message(exc)
        result.fit = {"epochs_run": run.trainer.log.epochs_run, "losses": run.trainer.log.losses,
                      "traceback": traceback.format_exc(limit=-8)}
    except Terminated:  # SIGTERM: recorded as failed (the caller saves it, then stops)
        result.status = "failed"
        result.error = f"terminated by SIGTERM after {run.trainer.log.epochs_run} epochs"
        result.fit = {"epochs_run": run.trainer.log.epochs_run, "losses": run.trainer.log.losses,
                      "valid_history": run.trainer.log.valid_history, "terminated": True}
    result.wall_seconds = time.perf_counter() - t_start
    result.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def prepare_run(model_name: str, ds: PreparedDataset, overrides: dict, seed: int, tensors: DatasetTensors | None,
                inputs: ModelInputs | None, llm_artefacts: list[dict] | None, init_state: dict | None) -> PreparedRun:
    """Settings, RecBole config, the model (seeded), its objective, scorer and trainer. Errors raise."""
    spec = get_model_spec(model_name)
    settings = run_settings(spec, ds, overrides)
    threads = int(settings.get("threads") or torch.get_num_threads())
    torch.set_num_threads(threads)
    _seed_everything(seed)
    cls, config = recbole_model_config(spec, ds, overrides, seed)
    tensors = tensors or tensors_for(ds)
    artefacts = list(llm_artefacts or [])
    if spec.needs:  # LLM-side artefacts and other inputs, resolved above training, handed over as arrays
        if inputs is None:
            raise MissingModelInput(f"{spec.name} needs {', '.join(spec.needs)}: resolve them before training with "
                                    "recsys.llm.inputs.resolve_inputs and pass inputs= (recsys.bench.run_types."
                                    "train_model does both)")
        for key, value in inputs.arrays.items():
            config[key] = value
        tensors = inputs.tensors if inputs.tensors is not None else tensors
        artefacts += inputs.metas
    check_topk(settings, ds, tensors.n_items)
    _seed_everything(seed)
    view = ContextDatasetView if isinstance(tensors, ContextTensors) else TrainDatasetView
    model = cls(config, view(tensors, spec.name))
    backbone_options(model, settings, spec.name)
    if init_state is not None:
        model.load_state_dict(init_state)
    if distributed.current().device.type != "cpu":
        model = model.to(distributed.current().device)
    max_len = int(config["MAX_ITEM_LIST_LENGTH"] or 50)
    objective_name = choose_objective(model, spec, settings["objective"])
    objective = build_objective(objective_name, model, tensors, int(settings["train_batch_size"]), max_len,
                                bool(settings.get("length_buckets", False)), str(settings.get("sequence_loss", "model")),
                                int(settings.get("catalogue_chunk", DEFAULT_CHUNK)),
                                {k: settings[k] for k in SAMPLED_LOSS_DEFAULTS if k in settings},
                                domain_codes=target_domain_codes(tensors, settings))
    phases = training_phases(cls, model, settings)
    score_fn = (ctr_score_function(model, tensors) if ds.task in CTR_TASKS
                else score_function(model, max_len, causal=spec.full_sequence))
    trainer = Trainer(model, objective, score_fn, tensors, trainer_settings(settings, objective_name, phases), seed)
    return PreparedRun(spec, model, tensors, settings, objective_name, trainer, score_fn, threads, artefacts)


def fit_and_test(run: PreparedRun, result: RunResult, seed: int) -> None:
    """Fit (best weights kept), then evaluate every test split; fills ``result``'s metrics and fit record."""
    log = run.trainer.fit()
    run.model.eval()
    settings = run.trainer.s
    t_test = time.perf_counter()
    negatives = int(run.settings.get("eval_negatives") or 0)
    for phase in [s for s in run.tensors.split_names() if s.startswith("test")]:
        result.test[phase] = evaluate_task(run.score_fn, run.tensors, phase, settings.topk, settings.tie_policy,
                                           settings.eval_batch_size, seed=seed)
        if negatives:  # the papers' protocol on the same weights, beside the full ranking
            result.test[phase + SAMPLED_SUFFIX] = evaluate_sampled(run.score_fn, run.tensors, phase, negatives,
                                                                   settings.topk, settings.tie_policy,
                                                                   settings.eval_batch_size, seed=seed)
    t_test = time.perf_counter() - t_test
    result.valid = log.best_valid
    result.fit = {"epochs_run": log.epochs_run, "best_epoch": log.best_epoch, "losses": log.losses,
                  "valid_history": log.valid_history, "train_seconds": log.train_seconds,
                  "eval_seconds": log.eval_seconds, "train_targets": log.targets,
                  "targets_per_second": log.targets / log.train_seconds if log.train_seconds else 0.0,
                  "stopped_early": log.stopped_early, "stopped_by_time": log.stopped_by_time,
                  "converged": log.converged or run.objective == "positives",  # counts: one pass, nothing to converge
                  "epoch_caps": log.epoch_caps, "test_seconds": t_test}
    info = distributed.current()
    if info.active:
        result.fit["distributed"] = info.describe()
