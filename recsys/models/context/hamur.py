"""HAMUR: hyper adapter for multi-domain recommendation (Li et al., CIKM 2023).

Each scenario has its own MLP; after every hidden layer an adapter adds a low-rank
correction U . H(x) . V whose k x k core H is generated per sample by a shared hyper-network
from the scenario embedding and the input, followed by a domain norm and a shortcut.
Difference from the official code: the domain norm is a per-sample layer norm with a
per-scenario affine (the official one used batch statistics at evaluation).
"""

from __future__ import annotations

import torch
from torch import nn

from recsys.models.context.base import ScenarioRecommender
from recsys.models.registry import register_model
from recsys.nn.ctr import MLP, select


class HyperAdapter(nn.Module):
    def __init__(self, dim: int, cond_dim: int, rank: int, hyper_dims: list[int], n_scenarios: int):
        super().__init__()
        self.u = nn.Parameter(torch.randn(dim, rank) * dim ** -0.5)
        self.v = nn.Parameter(torch.randn(rank, dim) * 0.1 * rank ** -0.5)
        self.hyper = nn.Sequential(MLP(cond_dim, hyper_dims, batch_norm=False), nn.Linear(hyper_dims[-1], rank * rank))
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.gamma = nn.Parameter(torch.full((n_scenarios, dim), 0.1))  # the adapter starts as a small correction
        self.beta = nn.Parameter(torch.zeros(n_scenarios, dim))
        self.rank = rank

    def forward(self, h: torch.Tensor, cond: torch.Tensor, scenario: torch.Tensor) -> torch.Tensor:
        core = self.hyper(cond).view(-1, self.rank, self.rank)
        a = torch.bmm((h @ self.u).unsqueeze(1), core).squeeze(1) @ self.v
        return h + self.norm(a) * self.gamma[scenario] + self.beta[scenario]


@register_model("HAMUR", "multi_scenario", description="Per-scenario MLPs with a hyper-network low-rank adapter")
class HAMUR(ScenarioRecommender):
    DEFAULTS = {"mlp_dims": [256, 128], "hyper_dims": [64], "adapter_rank": 35}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        dims = [self.input_dim, *self.cfg(config, "mlp_dims")]
        self.scenario_embedding = nn.Embedding(self.n_scenarios, self.d)
        cond = self.d + self.input_dim
        self.layers = nn.ModuleList(
            nn.ModuleList(nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(), nn.Dropout(self.dropout))
                          for a, b in zip(dims[:-1], dims[1:])) for _ in range(self.n_scenarios))
        self.adapters = nn.ModuleList(HyperAdapter(b, cond, int(self.cfg(config, "adapter_rank")),
                                                   list(self.cfg(config, "hyper_dims")), self.n_scenarios)
                                      for b in dims[1:])
        self.heads = nn.ModuleList(nn.Linear(dims[-1], 1) for _ in range(self.n_scenarios))
        self.init_embeddings()

    def logit(self, interaction):
        x = self.flat(interaction)
        s = self.scenario(interaction)
        cond = torch.cat([self.scenario_embedding(s), x], -1)
        outs = []
        for layers, head in zip(self.layers, self.heads):
            h = x
            for layer, adapter in zip(layers, self.adapters):
                h = adapter(layer(h), cond, s)
            outs.append(head(h))
        return select(torch.cat(outs, 1), s)
