"""AdaSparse: adaptive sparse networks for multi-domain CTR (Yang et al., CIKM 2022).

A per-scenario fusion pruner (from the scenario embedding and the input) outputs neuron-wise
factors pi = beta * sigmoid(z) (beta = 2); factors below epsilon (1e-2) are set to zero, which
prunes neurons per sample. The input and each hidden layer of the MLP are scaled by their factors.
"""

from __future__ import annotations

import torch
from torch import nn

from recsys.models.context.base import ScenarioRecommender
from recsys.models.registry import register_model


@register_model("AdaSparse", "multi_scenario", description="Scenario-adaptive neuron pruning of a shared MLP")
class AdaSparse(ScenarioRecommender):
    DEFAULTS = {"mlp_dims": [32, 32], "beta": 2.0, "epsilon": 1e-2}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        dims = [self.input_dim, *self.cfg(config, "mlp_dims")]
        self.beta, self.eps = float(self.cfg(config, "beta")), float(self.cfg(config, "epsilon"))
        self.scenario_embedding = nn.Embedding(self.n_scenarios, self.d)
        self.pruners = nn.ModuleList(nn.Linear(self.d + self.input_dim, h) for h in dims[:-1] + [dims[-1]])
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in dims[1:])
        self.head = nn.Linear(dims[-1], 1)
        self.drop = nn.Dropout(self.dropout)
        self.init_embeddings()

    def factors(self, pruner: nn.Module, cond: torch.Tensor) -> torch.Tensor:
        pi = self.beta * torch.sigmoid(pruner(cond))
        return pi * (pi >= self.eps)

    def logit(self, interaction):
        x = self.flat(interaction)
        cond = torch.cat([self.scenario_embedding(self.scenario(interaction)), x.detach()], -1)
        h = x * self.factors(self.pruners[0], cond)
        for layer, norm, pruner in zip(self.layers, self.norms, self.pruners[1:]):
            h = self.drop(torch.relu(norm(layer(h)))) * self.factors(pruner, cond)
        return self.head(h)
