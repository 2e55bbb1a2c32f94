"""M3oE: multi-domain multi-task mixture of experts (Zhang et al., SIGIR 2024), single-task CTR form.

A STAR-style first layer (shared x scenario weights) with a skip connection, then shared and
scenario-specific experts (MLPs with LayerNorm) mixed by gates on the stop-gradient embedding,
and learned fusion weights between the shared and the scenario mixtures before the tower.
"""

from __future__ import annotations

import torch
from torch import nn

from recsys.models.context.base import ScenarioRecommender
from recsys.models.context.star import StarLinear
from recsys.models.registry import register_model
from recsys.nn.ctr import MLP, Experts, mix


@register_model("M3oE", "multi_scenario", description="STAR-style layer + shared/scenario experts + learned fusion")
class M3oE(ScenarioRecommender):
    DEFAULTS = {"n_experts": 4, "expert_dims": [64, 32], "tower_dims": [32]}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        n, dims = int(self.cfg(config, "n_experts")), list(self.cfg(config, "expert_dims"))
        self.star = StarLinear(self.input_dim, self.input_dim, self.n_scenarios)
        self.shared = Experts(n, self.input_dim, dims, self.dropout, layer_norm=True)
        self.specific = nn.ModuleList(Experts(n, self.input_dim, dims, self.dropout, layer_norm=True)
                                      for _ in range(self.n_scenarios))
        self.shared_gate = nn.Linear(self.input_dim, n)
        self.specific_gates = nn.ModuleList(nn.Linear(self.input_dim, n) for _ in range(self.n_scenarios))
        self.fusion = nn.Parameter(torch.zeros(self.n_scenarios, 2))
        self.tower = MLP(dims[-1], list(self.cfg(config, "tower_dims")), self.dropout, output=True)
        self.init_embeddings()

    def logit(self, interaction):
        x = self.flat(interaction)
        s = self.scenario(interaction)
        h = x + torch.relu(self.star(x, s))
        g_in = x.detach()
        shared = mix(self.shared(h), torch.softmax(self.shared_gate(g_in), -1))
        own = torch.zeros_like(shared)
        for k in torch.unique(s).tolist():
            m = s == k
            own[m] = mix(self.specific[k](h[m]), torch.softmax(self.specific_gates[k](g_in[m]), -1))
        w = torch.softmax(self.fusion[s], -1)
        return self.tower(w[:, :1] * shared + w[:, 1:] * own)
