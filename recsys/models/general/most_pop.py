"""MostPop: rank items by their number of training interactions.

RecBole's ``Pop`` counts with ``item_cnt[items] += 1`` per batch, so an item that appears
several times in one batch is counted once: its counts (and results) depend on the batch
size and the shuffle. MostPop counts from the whole training matrix once, so it is the
exact popularity ranking, identical for every seed. Ties keep the evaluator's tie policy.
"""

from __future__ import annotations

import numpy as np
import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType, ModelType

from recsys.models.registry import register_model


@register_model("MostPop", "general", description="exact training popularity (a correct Pop)")
class MostPop(GeneralRecommender):
    SEARCH_SPACE: dict = {}  # counts: nothing to tune
    input_type = InputType.POINTWISE
    type = ModelType.TRADITIONAL

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        counts = np.asarray(dataset.inter_matrix(form="csr").sum(axis=0)).ravel()
        self.register_buffer("counts", torch.as_tensor(counts, dtype=torch.float64))
        self.fake_loss = torch.nn.Parameter(torch.zeros(1))  # RecBole's trainers expect a parameter

    def calculate_loss(self, interaction):
        return self.fake_loss.sum() * 0.0

    def predict(self, interaction):
        return self.counts[interaction[self.ITEM_ID]]

    def full_sort_predict(self, interaction):
        n = interaction[self.USER_ID].shape[0]
        # a new tensor, never a view of the buffer: evaluators mask scores in place
        return self.counts.repeat(n)
