"""Run a model through RecBole's own pipeline on a prepared dataset.

``Config`` / ``create_dataset`` / ``data_preparation`` / ``Trainer``, exactly as
RecBole runs them, on our exported atomic files and our split (benchmark files). It
is how RecBole baselines are run unchanged, how our models are proven to run inside
RecBole, and the reference side of ``recsys perf``. ``recbole.quick_start`` is never
imported (it pulls in Ray); the model class is passed to ``Config`` directly.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path

from recsys.data.prepare import PreparedDataset
from recsys.data.recipe import CTR_TASKS
from recsys.io.paths import cache_dir
from recsys.models.protocol import (
    INPUT_KEYS,
    config_defaults,
    extra_config_keys,
    input_defaults,
)
from recsys.recbole.atomic_files import export_atomic

#: Defaults that keep RecBole quiet, deterministic and out of the working directory.
BASE_CONFIG = {
    "benchmark_filename": ["train", "valid", "test"],
    "eval_args": {"split": None, "order": "TO", "mode": "full", "group_by": "user"},
    "metrics": ["Recall", "MRR", "NDCG", "Hit", "Precision"],
    "topk": [10],
    "valid_metric": "NDCG@10",
    "show_progress": False,
    "log_wandb": False,
    "state": "WARNING",
    "reproducibility": True,
    "seed": 2024,
}

#: Keys RecBole reads without defining them in its yaml files.
RECBOLE_RUN_KEYS = {"seed", "state", "reproducibility", "checkpoint_dir", "data_path", "benchmark_filename",
                    "eval_args", "metrics", "topk", "valid_metric", "show_progress", "log_wandb", "load_col",
                    "train_neg_sample_args", "numerical_features", "LABEL_FIELD"}


@contextmanager
def _without_command_line():
    """RecBole's ``Config`` parses ``sys.argv`` for ``--key=value``; ours is not meant for it."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


def recbole_defaults(cls, dataset: str) -> dict:
    """What RecBole's own yaml files define for ``cls`` on ``dataset`` (overall, model, dataset,
    quick-start defaults), read without building a ``Config`` from user values: unknown keys and
    badly typed values are refused before RecBole ever sees them."""
    from recbole.config import Config

    probe = Config.__new__(Config)
    probe._init_parameters_category()
    probe.yaml_loader = probe._build_yaml_loader()
    probe._load_internal_config_dict(cls.__name__, cls, dataset)
    return dict(probe.internal_config_dict)


def bridge_keys(cls, dataset: str, overrides: dict) -> set[str]:
    """Keys RecBole's pipeline may be given for ``cls``: its yaml files, the keys RecBole reads without a
    yaml default, a model of ours's ``CONFIG_DEFAULTS`` and LLM-side inputs, and whatever a wrapper
    model declares through ``known_config_keys`` (TTA4SR: its backbone's keys)."""
    known = set(recbole_defaults(cls, dataset)) | RECBOLE_RUN_KEYS | set(config_defaults(cls))
    known |= set(INPUT_KEYS) | set(input_defaults(cls))
    return known | extra_config_keys(cls, overrides, dataset)


def check_known_keys(overrides: dict, known: set[str], model: str, where: str) -> None:
    """An unknown key is an error naming it, with close matches (RecBole itself merges any key)."""
    import difflib

    from recsys.errors import ConfigError

    unknown = [k for k in overrides if k not in known]
    if unknown:  # every bad key at once, each with its close matches
        parts = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), sorted(known), n=3)
            parts.append(f"{key!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        noun = "key" if len(unknown) == 1 else "keys"
        raise ConfigError(f"unknown config {noun} {'; '.join(parts)} for {model} ({where}; every key: "
                          f"recsys models {model})")


def _inter_fields(root: Path, name: str) -> list[str]:
    with open(root / name / f"{name}.inter", encoding="utf-8") as fh:
        return [col.split(":", 1)[0] for col in fh.readline().rstrip("\n").split("\t")]


def recbole_config(model, ds: PreparedDataset, overrides: dict | None = None):
    """A RecBole ``Config`` for ``model`` (class or RecBole model name) on the exported dataset."""
    from recbole.config import Config
    from recbole.model.abstract_recommender import SequentialRecommender

    if isinstance(model, str):
        from recsys.models.registry import get_model_spec

        cls = get_model_spec(model).load()  # ours or RecBole's
    else:
        cls = model
    root = export_atomic(ds)
    cfg = dict(BASE_CONFIG)
    cfg.update(data_path=str(root), checkpoint_dir=str(cache_dir() / "recbole" / "saved"),
               load_col={"inter": _inter_fields(root, ds.name)})
    if ds.task in CTR_TASKS:  # labelled samples: AUC / LogLoss on our split
        fields = ds.meta["context_fields"]
        cfg.update(eval_args={"split": None, "order": "RO", "mode": "labeled", "group_by": None},
                   metrics=["AUC", "LogLoss"], valid_metric="AUC", LABEL_FIELD="label",
                   numerical_features=list(fields["dense"]), train_neg_sample_args=None,
                   # the timestamp column only orders sequences; it is not a CTR feature
                   load_col={"inter": [f for f in _inter_fields(root, ds.name) if f not in ("timestamp", "rating")]})
    elif issubclass(cls, SequentialRecommender):
        # RecBole's sequential benchmark files must hold pre-built item lists; instead let RecBole
        # split the full file leave-one-out itself. The export orders each user's rows exactly as our
        # split did (ties included), and RecBole's sort is stable, so both splits coincide.
        if ds.meta["recipe"]["split"]["method"] != "leave_one_out":
            raise ValueError(f"RecBole's sequential pipeline runs here only on leave-one-out splits; "
                             f"{ds.name} uses {ds.meta['recipe']['split']['method']!r}")
        cfg["benchmark_filename"] = None
        cfg["eval_args"] = dict(cfg["eval_args"], split={"LS": "valid_and_test"})
        cfg["train_neg_sample_args"] = None  # CE loss over all items, RecBole's default for SASRec
    overrides = dict(overrides or {})
    check_known_keys(overrides, bridge_keys(cls, ds.name, overrides) | set(cfg), cls.__name__,
                     "--via recbole takes the keys of RecBole's yaml files and the model's own defaults")
    cfg.update(overrides)
    with _without_command_line():
        return Config(model=cls, dataset=ds.name, config_dict=cfg)


def run_recbole(model, ds: PreparedDataset, overrides: dict | None = None, *, saved: bool = True) -> dict:
    """Train and test with RecBole's own pipeline; returns test metrics, best validation and timings."""
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    config = recbole_config(model, ds, overrides)
    init_seed(config["seed"], config["reproducibility"])
    t0 = time.perf_counter()
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    t1 = time.perf_counter()
    init_seed(config["seed"], config["reproducibility"])
    cls = config.model_class
    model_obj = cls(config, train.dataset).to(config["device"])
    trainer = Trainer(config, model_obj)
    best_valid, best_result = trainer.fit(train, valid, saved=saved, show_progress=config["show_progress"])
    t2 = time.perf_counter()
    result = trainer.evaluate(test, load_best_model=saved, show_progress=False)
    t3 = time.perf_counter()
    return {
        "model": cls.__name__,
        "dataset": ds.name,
        "test": {k: float(v) for k, v in result.items()},
        "valid": {k: float(v) for k, v in (best_result or {}).items()},
        "seconds": {"prepare": t1 - t0, "fit": t2 - t1, "test": t3 - t2},
        "checkpoint": str(Path(trainer.saved_model_file)) if saved else None,
    }
