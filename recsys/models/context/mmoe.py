"""MMoE: shared MLP experts, a softmax gate and a tower per scenario (Ma et al., KDD 2018)."""

from __future__ import annotations

import torch
from torch import nn

from recsys.models.context.base import ScenarioRecommender
from recsys.models.registry import register_model
from recsys.nn.ctr import MLP, Experts, mix, select


@register_model("MMoE", "multi_scenario", description="Multi-gate mixture of experts, one gate and tower per scenario")
class MMoE(ScenarioRecommender):
    DEFAULTS = {"n_experts": 3, "expert_dims": [16], "tower_dims": [8]}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        n = int(self.cfg(config, "n_experts"))
        self.experts = Experts(n, self.input_dim, list(self.cfg(config, "expert_dims")), self.dropout)
        self.gates = nn.ModuleList(nn.Linear(self.input_dim, n) for _ in range(self.n_scenarios))
        self.towers = nn.ModuleList(MLP(self.experts.out_dim, list(self.cfg(config, "tower_dims")), self.dropout,
                                        output=True) for _ in range(self.n_scenarios))
        self.init_embeddings()

    def logit(self, interaction):
        x = self.flat(interaction)
        e = self.experts(x)
        outs = [tower(mix(e, torch.softmax(gate(x), -1))) for gate, tower in zip(self.gates, self.towers)]
        return select(torch.cat(outs, dim=1), self.scenario(interaction))
