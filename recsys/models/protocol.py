"""What a model of ours may declare, in one place: the optional hooks the pipeline reads, and the
helpers that read them (no ``hasattr`` probes elsewhere).

A model is a RecBole recommender (``SequentialRecommender``, ``GeneralRecommender``,
``ContextRecommender``) registered with ``recsys.models.registry.register_model``. Beyond RecBole's
own interface it may declare, as class attributes or methods:

``CONFIG_DEFAULTS`` (dict)
    its own config keys and their defaults; they are known keys (a typo in one is an error) and
    a ``None`` that RecBole's ``Config`` leaves for a missing key reads as this default.
``INPUT_DEFAULTS`` (dict)
    defaults for the keys that choose how its declared ``needs`` are built (``INPUT_KEYS``),
    e.g. which generator writes the hard negatives.
``default_phases(settings) -> list[dict]`` (classmethod)
    a training schedule of phases (``recsys.train.trainer.Phase`` keys) when the run gives none.
``full_sequence_loss(inputs, targets, generator, users=None)``
    its own per-position loss for the one-sequence-per-user objective (``users`` only when it asks).
``set_training_phase(name)``
    called as each phase starts (a model that freezes more than the phase's ``trainable``).
``known_config_keys(overrides, dataset) -> set[str]`` (classmethod)
    extra keys it accepts beyond its defaults (a wrapper accepts its backbone's keys).

Needs (``register_model(needs=...)``) are arrays the pipeline builds before training
(``recsys.llm.inputs``) and hands to the model as config keys; a model never reads data or
LLM modules itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recsys.errors import RecsysError

#: Config keys that choose how needs are built (accepted for any model that has needs).
INPUT_KEYS = {"text_encoder": "minilm", "sid_levels": 4, "sid_codes": 128,
              "profile_generator": "keywords", "profile_kind": "hierarchical", "profile_clusters": 10,
              "profile_items": 50, "augment": True, "augment_generator": "none", "augment_per_user": 3,
              "augment_min_share": 0.8, "augment_pool": 20, "augment_min_similarity": 0.3,
              "hard_negative_generator": "none", "hard_negative_pairs_per_user": 0,
              "describe_items_without_text": "none"}


class MissingModelInput(RecsysError):
    """A model's declared input is absent (not resolved before training, or not buildable for the data)."""


@dataclass
class ModelInputs:
    """A model's needs, resolved before training: arrays handed to it as config keys, the run's
    training tensors (augmented when the model asks for it) and the metas of the artefacts used."""

    arrays: dict[str, Any] = field(default_factory=dict)
    tensors: Any = None
    metas: list[dict] = field(default_factory=list)


def config_value(config, key: str, defaults: dict):
    """``config[key]``, or ``defaults[key]`` where RecBole's ``Config`` has no value (it returns None)."""
    value = config[key]
    return defaults[key] if value is None else value


def config_defaults(cls) -> dict:
    return dict(getattr(cls, "CONFIG_DEFAULTS", {}))


def input_defaults(cls) -> dict:
    return dict(getattr(cls, "INPUT_DEFAULTS", {}))


def extra_config_keys(cls, overrides: dict, dataset: str) -> set[str]:
    hook = getattr(cls, "known_config_keys", None)
    return set(hook(overrides, dataset)) if hook is not None else set()


def default_phases(cls, settings: dict) -> list[dict]:
    hook = getattr(cls, "default_phases", None)
    return list(hook(settings)) if hook is not None else []


def own_sequence_loss(model):
    """The model's ``full_sequence_loss`` (None: the objective's own loss applies)."""
    return getattr(model, "full_sequence_loss", None)


def phase_hook(model):
    """The model's ``set_training_phase`` (None: phases only change which parameters train)."""
    return getattr(model, "set_training_phase", None)
