"""SAR-Net: scenario-aware ranking with a mixture of shared and scenario-specific experts (Shen et al., CIKM 2021).

The field embeddings are rescaled per scenario (a learned scale and bias, the scenario-aware
transfer), then 8 shared and 2 scenario-specific experts are mixed by a softmax gate on the
input, and an MLP gives the logit.
"""

from __future__ import annotations

import torch
from torch import nn

from recsys.models.context.base import ScenarioRecommender
from recsys.models.registry import register_model
from recsys.nn.ctr import MLP, Experts, mix


@register_model("SARNet", "multi_scenario", description="Scenario-aware transfer + shared/specific experts")
class SARNet(ScenarioRecommender):
    DEFAULTS = {"n_shared": 8, "n_specific": 2, "expert_dims": [16], "mlp_dims": [32]}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.scale = nn.Parameter(torch.ones(self.n_scenarios, self.input_dim))
        self.bias = nn.Parameter(torch.zeros(self.n_scenarios, self.input_dim))
        dims = list(self.cfg(config, "expert_dims"))
        n_shared, n_specific = int(self.cfg(config, "n_shared")), int(self.cfg(config, "n_specific"))
        self.shared = Experts(n_shared, self.input_dim, dims, self.dropout)
        self.specific = nn.ModuleList(Experts(n_specific, self.input_dim, dims, self.dropout)
                                      for _ in range(self.n_scenarios))
        self.gate = nn.Linear(self.input_dim, n_shared + n_specific)
        self.mlp = MLP(dims[-1], list(self.cfg(config, "mlp_dims")), self.dropout, output=True)
        self.init_embeddings()

    def logit(self, interaction):
        s = self.scenario(interaction)
        x = self.flat(interaction) * self.scale[s] + self.bias[s]
        shared = self.shared(x)
        specific = torch.stack([e(x) for e in self.specific], 1)  # [B, S, k, d]
        own = specific[torch.arange(len(s)), s]
        return self.mlp(mix(torch.cat([shared, own], 1), torch.softmax(self.gate(x), -1)))
