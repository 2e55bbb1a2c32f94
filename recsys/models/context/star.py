"""STAR: one model for all scenarios with a star-topology FCN (Sheng et al., CIKM 2021).

Partitioned normalisation of the input (per-scenario statistics and affine), a fully connected
network whose layer weights are the element-wise product of shared and scenario-specific weights
(biases summed), and an auxiliary network on the scenario embedding; output sigmoid(main + aux).
Difference from the official code: the partitioned norm uses running statistics in evaluation
(``recsys.nn.ctr.ScenarioNorm``), so a prediction does not depend on its batch.
"""

from __future__ import annotations

import torch
from torch import nn

from recsys.models.context.base import ScenarioRecommender
from recsys.models.registry import register_model
from recsys.nn.ctr import MLP, ScenarioNorm


class StarLinear(nn.Module):
    """y = x (W_shared * W_s) + (b_shared + b_s) for each sample's scenario s."""

    def __init__(self, in_dim: int, out_dim: int, n_scenarios: int):
        super().__init__()
        self.w = nn.Parameter(torch.empty(in_dim, out_dim))
        self.b = nn.Parameter(torch.zeros(out_dim))
        self.w_s = nn.Parameter(torch.ones(n_scenarios, in_dim, out_dim))
        self.b_s = nn.Parameter(torch.zeros(n_scenarios, out_dim))
        nn.init.xavier_uniform_(self.w)

    def forward(self, x: torch.Tensor, scenario: torch.Tensor) -> torch.Tensor:
        out = x.new_zeros(len(x), self.w.shape[1])
        for s in torch.unique(scenario).tolist():
            m = scenario == s
            out[m] = x[m] @ (self.w * self.w_s[s]) + self.b + self.b_s[s]
        return out


@register_model("STAR", "multi_scenario", description="Star topology FCN with partitioned normalisation")
class STAR(ScenarioRecommender):
    DEFAULTS = {"fcn_dims": [128, 64, 32], "aux_dims": [32]}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.norm = ScenarioNorm(self.input_dim, self.n_scenarios)
        dims = [self.input_dim, *self.cfg(config, "fcn_dims")]
        self.layers = nn.ModuleList(StarLinear(a, b, self.n_scenarios) for a, b in zip(dims[:-1], dims[1:]))
        self.head = StarLinear(dims[-1], 1, self.n_scenarios)
        self.scenario_embedding = nn.Embedding(self.n_scenarios, self.d)
        self.aux = MLP(self.d, list(self.cfg(config, "aux_dims")), self.dropout, output=True)
        self.drop = nn.Dropout(self.dropout)
        self.init_embeddings()

    def logit(self, interaction):
        s = self.scenario(interaction)
        h = self.norm(self.flat(interaction), s)
        for layer in self.layers:
            h = self.drop(torch.relu(layer(h, s)))
        return self.head(h, s) + self.aux(self.scenario_embedding(s))
