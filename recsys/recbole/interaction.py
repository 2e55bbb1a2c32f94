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


#: sub-batches a batch of causal-model users is cut into, by history length (see ``score_function``)
LENGTH_GROUPS = 4


def score_function(model, max_len: int, causal: bool = False):
    """``score_fn(users, history)`` for the evaluator, via the model's own ``full_sort_predict``.

    ``causal``: the model reads left-aligned windows causally (``ModelSpec.full_sequence``), so the
    padding after a user's last item never reaches the position it is scored at. The batch is then
    scored in ``LENGTH_GROUPS`` sub-batches of similar history length, each window cut after its
    group's longest history: on short-history data (Beauty: 8.9 items per user, windows of 50) most
    of the padded forward pass is skipped. Scores come back in the caller's order.
    """
    sequential = getattr(model, "type", None) == ModelType.SEQUENTIAL
    device = distributed.current().device

    def predict(users: np.ndarray, seq: torch.Tensor | None = None, lengths: torch.Tensor | None = None):
        fields = {model.USER_ID: torch.from_numpy(users)}
        if seq is not None:
            fields.update({model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: lengths.clamp(min=1)})
        return model.full_sort_predict(interaction(fields, device)).reshape(len(users), -1).cpu()

    def score(users: np.ndarray, history):
        if not sequential:
            return predict(users)
        seq, lengths = history.window(users, max_len)
        if not causal or len(users) < 2 * LENGTH_GROUPS:
            return predict(users, seq, lengths)
        order = torch.argsort(lengths, stable=True)
        parts = []
        for idx in torch.tensor_split(order, LENGTH_GROUPS):
            width = max(int(lengths[idx].max()), 1)
            parts.append(predict(users[idx.numpy()], seq[idx, :width], lengths[idx]))
        scores = torch.empty((len(users), parts[0].shape[1]), dtype=parts[0].dtype)
        scores[order] = torch.cat(parts)
        return scores

    return score


def ctr_score_function(model, tensors):
    """``score_fn(rows)`` for the CTR evaluator: the model's ``predict`` (click probabilities) on those rows."""

    device = distributed.current().device

    def score(rows: np.ndarray):
        return model.predict(interaction(tensors.batch(rows), device)).reshape(-1).cpu()

    return score
