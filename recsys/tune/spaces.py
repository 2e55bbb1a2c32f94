"""Search spaces: what a tuner may change for each model, declared beside the model's defaults.

A space maps a config key to a distribution::

    {"learning_rate": ("log", 1e-4, 1e-2), "n_layers": ("int", 1, 3), "hidden_act": ("choice", ["gelu", "relu"]),
     "hidden_dropout_prob": ("float", 0.0, 0.5)}

Our models declare theirs as a ``SEARCH_SPACE`` class attribute; RecBole's baselines used by the
shipped suites have theirs here. Every space tunes the learning rate, so two models given the same
number of trials also get the same chance to fix the one setting every model shares. A suite entry or
``recsys tune --space FILE`` may replace a space; an unknown key is then an error, as for any config.
"""

from __future__ import annotations

from recsys.errors import ConfigError

KINDS = ("log", "float", "int", "choice")
LEARNING_RATE = {"learning_rate": ("log", 1e-4, 1e-2)}

#: RecBole's models as the shipped suites use them (keys are RecBole's own).
RECBOLE_SPACES: dict[str, dict] = {
    "SASRec": {"hidden_dropout_prob": ("float", 0.1, 0.6), "attn_dropout_prob": ("float", 0.1, 0.6),
               "n_layers": ("int", 1, 3), "weight_decay": ("choice", [0.0, 1e-6, 1e-4])},
    "BERT4Rec": {"hidden_dropout_prob": ("float", 0.1, 0.6), "attn_dropout_prob": ("float", 0.1, 0.6),
                 "n_layers": ("int", 1, 3), "mask_ratio": ("float", 0.1, 0.6)},
    "GRU4Rec": {"dropout_prob": ("float", 0.0, 0.6), "num_layers": ("int", 1, 2),
                "weight_decay": ("choice", [0.0, 1e-6, 1e-4])},
    "BPR": {"weight_decay": ("choice", [0.0, 1e-6, 1e-4])},
    "LightGCN": {"n_layers": ("int", 1, 4), "reg_weight": ("log", 1e-6, 1e-2)},
    "NGCF": {"n_layers": ("int", 1, 3), "reg_weight": ("log", 1e-6, 1e-2), "node_dropout": ("float", 0.0, 0.3)},
    "LR": {"weight_decay": ("choice", [0.0, 1e-6, 1e-4])},
    "DeepFM": {"dropout_prob": ("float", 0.0, 0.5), "weight_decay": ("choice", [0.0, 1e-6, 1e-4])},
    "DCN": {"dropout_prob": ("float", 0.0, 0.5), "cross_layer_num": ("int", 1, 4)},
    "WideDeep": {"dropout_prob": ("float", 0.0, 0.5), "weight_decay": ("choice", [0.0, 1e-6, 1e-4])},
}


#: RecBole models without trainable settings
UNTUNABLE = {"Pop", "ItemKNN", "EASE", "SLIMElastic", "ADMMSLIM"}


def search_space(model: str, override: dict | None = None) -> dict:
    """The model's space (learning rate included); ``override`` replaces it (checked)."""
    from recsys.models.registry import get_model_spec

    spec = get_model_spec(model)
    if override is not None:
        space = dict(override)
    else:
        own = getattr(spec.load(), "SEARCH_SPACE", None) if spec.source == "recsys" else RECBOLE_SPACES.get(spec.name)
        if own == {} or spec.name in UNTUNABLE:  # nothing a tuner could change (counts, a closed form)
            return {}
        space = {**LEARNING_RATE, **(own or {})}
    for key, dist in space.items():
        check_distribution(key, dist, spec.name)
    return space


def check_distribution(key: str, dist, model: str) -> None:
    """A distribution is (kind, low, high) with low < high, or ("choice", [values]); else a one-line error."""
    ok = isinstance(dist, (list, tuple)) and dist and dist[0] in KINDS
    if ok and dist[0] == "choice":
        ok = len(dist) == 2 and isinstance(dist[1], (list, tuple)) and len(dist[1]) >= 1
    elif ok:
        ok = (len(dist) == 3 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in dist[1:])
              and dist[1] < dist[2] and (dist[0] != "log" or dist[1] > 0)
              and (dist[0] != "int" or all(isinstance(v, int) for v in dist[1:])))
    if not ok:
        raise ConfigError(f"{model}: search space key {key!r} = {dist!r}: expected [\"log\"|\"float\", low, high] "
                          "(low < high; log needs low > 0), [\"int\", low, high] or [\"choice\", [values]]")


def suggest(trial, space: dict) -> dict:
    """One point of ``space`` drawn by an Optuna trial."""
    params = {}
    for key, dist in space.items():
        kind = dist[0]
        if kind == "choice":
            params[key] = trial.suggest_categorical(key, list(dist[1]))
        elif kind == "int":
            params[key] = trial.suggest_int(key, dist[1], dist[2])
        else:
            params[key] = trial.suggest_float(key, float(dist[1]), float(dist[2]), log=kind == "log")
    return params
