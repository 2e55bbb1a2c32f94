"""Every configuration key a run accepts, with its default, type and meaning: what ``recsys models MODEL``
prints, so a user never has to read the source to find ``length_buckets`` or ``max_epochs``."""

from __future__ import annotations

from pathlib import Path

#: the trainer's keys: meaning (defaults come from recsys.train.config.DEFAULTS and the key rules)
TRAINER_HELP = {
    "epochs": "epochs per run (the cap; see max_epochs)",
    "max_epochs": "convergence guard: a run still improving at its cap continues, cap doubled, up to this",
    "min_epochs": "early-stopping patience counts only from this epoch on",
    "max_minutes": "time budget: stop cleanly after the epoch that passes it, best weights kept",
    "learning_rate": "Adam's learning rate",
    "weight_decay": "Adam's weight decay",
    "train_batch_size": "training targets per batch (RecBole's meaning)",
    "eval_batch_size": "users per evaluation batch",
    "stopping_step": "early-stopping patience, in evaluations without improvement",
    "valid_metric": "the validation metric for early stopping and model selection",
    "eval_step": "validate every N epochs (same as eval_every)",
    "eval_every": "validate every N epochs (same as eval_step)",
    "clip_grad_norm": "gradient clipping (max norm); none by default",
    "scheduler": "learning-rate schedule: none, cosine, step, plateau[:factor[:patience]]",
    "phases": "multi-phase schedule: [{epochs, learning_rate, trainable = regex, name}]",
    "objective": "auto, full_sequence, prefix, pairwise, pointwise, positives or ctr",
    "sequence_loss": "full-sequence loss: model (its loss_type), bce, sampled, gbce",
    "sampled_negatives": "negatives of the sampled losses",
    "sampled_distribution": "where sampled negatives come from: uniform or popularity",
    "gbce_t": "gSASRec's calibration t",
    "catalogue_chunk": "targets per chunk of the catalogue softmax (0: one block)",
    "target_domain_loss": "cross-domain data: BCE negatives / the softmax over the target's domain only",
    "length_buckets": "batch windows of similar length and trim their padding (faster on short histories)",
    "MAX_ITEM_LIST_LENGTH": "the longest history a sequential model reads",
    "tie_policy": "how tied scores rank (docs/metrics.md)",
    "topk": "the K of every ranking metric",
    "eval_negatives": "also rank each test target among this many sampled negatives (the papers' protocol)",
    "precision": "fp32 or bf16 (the forward pass of training steps)",
    "threads": "torch threads of this run",
    "progress": "true: a progress bar; false: silent; unset: a bar on a terminal, log lines elsewhere",
    "attention": "attention variant of a transformer backbone",
    "attention_window": "keys a query sees (sigmoid_window)",
    "attention_distance_window": "distance-bias window (0: none)",
    "attention_sigmoid_bias": "sigmoid attention's bias",
}


def _type_name(value) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "str", list: "list", tuple: "list", dict: "table"}.get(type(value), "-")


def _number(value):
    """RecBole's yaml loader reads ``1e-12`` as a float; YAML 1.1's safe loader as a string."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def trainer_keys() -> list[tuple[str, object, str, str]]:
    """(key, default, type, meaning) of every trainer key."""
    from recsys.nn.catalogue_softmax import DEFAULT_CHUNK
    from recsys.train.config import DEFAULTS, TRAINER_KEYS, TRAINER_RULES
    from recsys.train.objectives import SAMPLED_LOSS_DEFAULTS

    defaults = {**DEFAULTS, **SAMPLED_LOSS_DEFAULTS, "eval_step": 1, "weight_decay": 0.0, "min_epochs": 0,
                "scheduler": "none", "sequence_loss": "model", "precision": "fp32", "eval_negatives": 0,
                "length_buckets": False, "target_domain_loss": False, "MAX_ITEM_LIST_LENGTH": 50, "catalogue_chunk": DEFAULT_CHUNK}
    rows = []
    for key in sorted(TRAINER_KEYS, key=str.lower):
        default = defaults.get(key)
        kind = TRAINER_RULES[key][1].split(" (")[0] if key in TRAINER_RULES else _type_name(default)
        rows.append((key, default, kind, TRAINER_HELP.get(key, "")))
    return rows


def model_keys(model: str) -> list[tuple[str, object, str]]:
    """(key, default, type) of the model's own keys: RecBole's yaml for its models, CONFIG_DEFAULTS for ours."""
    import yaml

    from recsys.models.protocol import config_defaults
    from recsys.models.registry import get_model_spec

    spec = get_model_spec(model)
    cls = spec.load()
    own = dict(config_defaults(cls))
    if spec.source == "recbole":
        import recbole

        path = Path(recbole.__file__).parent / "properties" / "model" / f"{cls.__name__}.yaml"
        if path.is_file():
            own = {**{k: _number(v) for k, v in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items()},
                   **own}
    return [(k, v, _type_name(v)) for k, v in sorted(own.items(), key=lambda kv: kv[0].lower())]


def describe_keys(model: str) -> str:
    """The text ``recsys models MODEL`` prints."""
    from recsys.models.registry import get_model_spec
    from recsys.tune.spaces import search_space

    spec = get_model_spec(model)
    out = [f"{spec.name} ({spec.task}, {spec.source}): {spec.description}", "",
           "model keys (--set KEY=VALUE):"]
    rows = model_keys(spec.name)
    width = max([len(k) for k, _, _ in rows] + [len(k) for k, *_ in trainer_keys()])
    out += [f"  {k:<{width}} {v!r:<14} {t}" for k, v, t in rows] or ["  (none)"]
    space = search_space(spec.name)
    out += ["", "search space (recsys tune):"] + ([f"  {k:<{width}} {v!r}" for k, v in space.items()] or
                                                ["  (nothing to tune)"])
    out += ["", "trainer keys (recsys's loop; docs/training.md):"]
    out += [f"  {k:<{width}} {str(v) if v is not None else '-':<14} {m}  [{t}]" for k, v, t, m in trainer_keys()]
    return "\n".join(out)
