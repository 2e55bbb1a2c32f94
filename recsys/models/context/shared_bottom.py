"""Shared-Bottom: one bottom MLP shared by all scenarios, one tower per scenario (Caruana 1997; Scenario-Wise Rec)."""

from __future__ import annotations

import torch
from torch import nn

from recsys.models.context.base import ScenarioRecommender
from recsys.models.registry import register_model
from recsys.nn.ctr import MLP, select


@register_model("SharedBottom", "multi_scenario", description="Shared bottom MLP, one tower per scenario")
class SharedBottom(ScenarioRecommender):
    DEFAULTS = {"bottom_dims": [128], "tower_dims": [8]}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.bottom = MLP(self.input_dim, list(self.cfg(config, "bottom_dims")), self.dropout)
        self.towers = nn.ModuleList(MLP(self.bottom.out_dim, list(self.cfg(config, "tower_dims")), self.dropout,
                                        output=True) for _ in range(self.n_scenarios))
        self.init_embeddings()

    def logit(self, interaction):
        h = self.bottom(self.flat(interaction))
        return select(torch.cat([t(h) for t in self.towers], dim=1), self.scenario(interaction))
