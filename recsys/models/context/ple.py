"""PLE: customised gate control (CGC) levels with scenario-specific and shared experts (Tang et al., RecSys 2020)."""

from __future__ import annotations

import torch
from torch import nn

from recsys.models.context.base import ScenarioRecommender
from recsys.models.registry import register_model
from recsys.nn.ctr import MLP, Experts, mix, select


class CGC(nn.Module):
    """One extraction level: scenario s mixes its own experts and the shared ones; the shared output mixes all."""

    def __init__(self, n_scenarios: int, in_dim: int, n_specific: int, n_shared: int, dims: list[int],
                 dropout: float, last: bool):
        super().__init__()
        self.specific = nn.ModuleList(Experts(n_specific, in_dim, dims, dropout) for _ in range(n_scenarios))
        self.shared = Experts(n_shared, in_dim, dims, dropout)
        self.gates = nn.ModuleList(nn.Linear(in_dim, n_specific + n_shared) for _ in range(n_scenarios))
        self.shared_gate = None if last else nn.Linear(in_dim, n_scenarios * n_specific + n_shared)
        self.out_dim = dims[-1]

    def forward(self, xs: list[torch.Tensor], x_shared: torch.Tensor):
        shared = self.shared(x_shared)
        specific = [e(x) for e, x in zip(self.specific, xs)]
        outs = [mix(torch.cat([sp, shared], 1), torch.softmax(g(x), -1))
                for sp, g, x in zip(specific, self.gates, xs)]
        new_shared = None
        if self.shared_gate is not None:
            new_shared = mix(torch.cat([*specific, shared], 1), torch.softmax(self.shared_gate(x_shared), -1))
        return outs, new_shared


@register_model("PLE", "multi_scenario", description="Progressive layered extraction (specific + shared experts)")
class PLE(ScenarioRecommender):
    DEFAULTS = {"n_levels": 1, "n_specific": 2, "n_shared": 1, "expert_dims": [16], "tower_dims": [8]}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        levels, dims = int(self.cfg(config, "n_levels")), list(self.cfg(config, "expert_dims"))
        self.levels = nn.ModuleList()
        d = self.input_dim
        for i in range(levels):
            self.levels.append(CGC(self.n_scenarios, d, int(self.cfg(config, "n_specific")),
                                   int(self.cfg(config, "n_shared")), dims, self.dropout, last=i == levels - 1))
            d = dims[-1]
        self.towers = nn.ModuleList(MLP(d, list(self.cfg(config, "tower_dims")), self.dropout, output=True)
                                    for _ in range(self.n_scenarios))
        self.init_embeddings()

    def logit(self, interaction):
        x = self.flat(interaction)
        xs, shared = [x] * self.n_scenarios, x
        for level in self.levels:
            xs, shared = level(xs, shared)
        return select(torch.cat([t(h) for t, h in zip(self.towers, xs)], 1), self.scenario(interaction))
