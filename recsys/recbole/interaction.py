"""``Interaction`` batches from plain tensors, and the scorers the evaluator calls through a model's
own ``full_sort_predict`` / ``predict`` (so ours and RecBole's models are scored the same way)."""

from __future__ import annotations

import numpy as np
import torch
from recbole.data.interaction import Interaction
from recbole.utils import ModelType

from recsys import distributed


def interaction(fields: dict, device: torch.device | None = None):
    inter = Interaction(fields)
    return inter if device is None or device.type == "cpu" else inter.to(device)


def score_function(model, max_len: int):
    """``score_fn(users, history)`` for the evaluator, via the model's own ``full_sort_predict``."""
    sequential = getattr(model, "type", None) == ModelType.SEQUENTIAL
    device = distributed.current().device

    def score(users: np.ndarray, history):
        u = torch.from_numpy(users)
        if sequential:
            seq, lengths = history.window(users, max_len)
            fields = {model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: lengths.clamp(min=1), model.USER_ID: u}
        else:
            fields = {model.USER_ID: u}
        return model.full_sort_predict(interaction(fields, device)).reshape(len(users), -1).cpu()

    return score


def ctr_score_function(model, tensors):
    """``score_fn(rows)`` for the CTR evaluator: the model's ``predict`` (click probabilities) on those rows."""

    device = distributed.current().device

    def score(rows: np.ndarray):
        return model.predict(interaction(tensors.batch(rows), device)).reshape(-1).cpu()

    return score
