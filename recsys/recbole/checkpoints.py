"""RecBole's checkpoints without pickled objects, and its loading API on top of them.

torch >= 2.6 loads with ``weights_only=True``, and recsys never unpickles: every checkpoint RecBole
writes under recsys (the trainer's, S3Rec's pre-training, the decision-tree trainer's) holds tensors
and plain values. The ``Config`` object RecBole used to pickle is replaced by two plain dicts:

- ``config``: the final configuration as values (what ``Trainer.resume_checkpoint`` reads);
- ``recbole_config``: the model name, the dataset and the *external* settings the run was given,
  from which ``load_data_and_model`` rebuilds the same ``Config`` instead of unpickling one.
"""

from __future__ import annotations

import os


def plain(value):
    """A config value as something ``torch.load(weights_only=True)`` accepts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def config_entries(config) -> dict:
    """The two plain entries a checkpoint holds in place of the pickled ``Config``."""
    return {"config": plain(dict(config.final_config_dict)),
            "recbole_config": {"model": str(config["model"]), "dataset": str(config["dataset"]),
                               "external": plain(dict(config.external_config_dict))}}


def save_state(state: dict, path: str) -> None:
    """``torch.save`` through a temporary file: an interrupted save leaves the previous checkpoint."""
    import torch

    tmp = f"{path}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def model_class(name: str):
    """A model class by name: RecBole's own, else one registered with recsys."""
    from recbole.utils import get_model

    try:
        return get_model(name)
    except ValueError:
        from recsys.models.registry import get_model_spec

        return get_model_spec(name).load()


def rebuild_config(checkpoint: dict, source: str):
    """The ``Config`` a checkpoint was trained with, rebuilt from its plain ``recbole_config``."""
    from recbole.config import Config

    from recsys.recbole.bridge import _without_command_line

    saved = checkpoint.get("recbole_config")
    if not isinstance(saved, dict):
        raise ValueError(f"{source}: no 'recbole_config' entry; it was not saved under recsys (a checkpoint with a "
                         "pickled Config is not loaded: recsys never unpickles). Train it again with recsys imported")
    with _without_command_line():
        return Config(model=model_class(saved["model"]), dataset=saved["dataset"], config_dict=saved["external"])


def load_data_and_model(model_file):
    """``recbole.quick_start.load_data_and_model`` on a weights-only checkpoint: same returns
    (config, model, dataset, train_data, valid_data, test_data), the config rebuilt, never unpickled."""
    from logging import getLogger

    import torch
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import init_logger, init_seed

    checkpoint = torch.load(model_file, weights_only=True)
    config = rebuild_config(checkpoint, str(model_file))
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    getLogger().info(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = model_class(config["model"])(config, train_data._dataset).to(config["device"])
    model.load_state_dict(checkpoint["state_dict"])
    model.load_other_parameter(checkpoint.get("other_parameter"))
    return config, model, dataset, train_data, valid_data, test_data


def patch_trainers(module, active: dict) -> None:
    """The trainer, S3Rec's pre-training and the decision-tree trainer save plain checkpoints."""

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        best = self.best_valid_score
        save_state({**config_entries(self.config), "epoch": int(epoch), "cur_step": int(self.cur_step),
                    "best_valid_score": float(best) if best is not None else None,
                    "state_dict": self.model.state_dict(), "other_parameter": self.model.other_parameter(),
                    "optimizer": self.optimizer.state_dict()}, saved_model_file)
        if verbose:
            self.logger.info(f"Saving current: {saved_model_file}")

    def save_pretrained_model(self, epoch, saved_model_file):
        save_state({**config_entries(self.config), "epoch": int(epoch), "state_dict": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(), "other_parameter": self.model.other_parameter()},
                   saved_model_file)
        self.saved_model_file = saved_model_file

    def tree_checkpoint(self, epoch):
        best = self.best_valid_score
        save_state({**config_entries(self.config), "epoch": int(epoch), "cur_step": int(self.cur_step),
                    "best_valid_score": float(best) if best is not None else None,
                    "state_dict": self.temp_best_file, "other_parameter": None}, self.saved_model_file)

    module.Trainer._save_checkpoint = _save_checkpoint
    module.PretrainTrainer.save_pretrained_model = save_pretrained_model
    module.DecisionTreeTrainer._save_checkpoint = tree_checkpoint
    active["weights_only_checkpoints"] = ("Trainer, PretrainTrainer (S3Rec) and DecisionTreeTrainer checkpoints hold "
                                          "tensors and plain values only (load with weights_only=True)")


def patch_quick_start(module, active: dict) -> None:
    """``load_data_and_model`` rebuilds the Config from the checkpoint's plain entries."""
    import sys

    module.load_data_and_model = load_data_and_model
    package = sys.modules.get("recbole.quick_start")
    if package is not None:
        package.load_data_and_model = load_data_and_model
    active["load_data_and_model"] = "quick_start.load_data_and_model rebuilds the Config (never unpickled)"
