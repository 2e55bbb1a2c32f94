"""M2M: multi-scenario multi-task meta learning (Zhang et al., CIKM 2022), as a multi-scenario CTR model.

A transformer encoder over each sample's field embeddings (the fields are the sequence), shared
MLP experts on its output, meta attention over the experts whose query is generated from the
scenario embedding, and a meta tower whose layer weights are generated from the scenario
embedding. Difference from the official code: the official code fed a (batch, dim) tensor to
``nn.Transformer`` as one unbatched sequence, so attention mixed samples across the batch;
here each sample's fields are its own sequence (``batch_first``), so predictions are per sample.
"""

from __future__ import annotations

import torch
from torch import nn

from recsys.models.context.base import ScenarioRecommender
from recsys.models.registry import register_model
from recsys.nn.ctr import Experts


class MetaLinear(nn.Module):
    """A linear layer whose weight and bias are generated from the scenario embedding."""

    def __init__(self, cond_dim: int, in_dim: int, out_dim: int):
        super().__init__()
        self.w = nn.Linear(cond_dim, in_dim * out_dim)
        self.b = nn.Linear(cond_dim, out_dim)
        self.in_dim, self.out_dim = in_dim, out_dim
        nn.init.normal_(self.w.weight, std=1.0 / (in_dim * cond_dim) ** 0.5)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        w = self.w(cond).view(-1, self.in_dim, self.out_dim)
        return torch.bmm(x.unsqueeze(1), w).squeeze(1) + self.b(cond)


@register_model("M2M", "multi_scenario", description="Transformer + experts + scenario-generated meta attention/tower")
class M2M(ScenarioRecommender):
    DEFAULTS = {"n_experts": 4, "expert_dims": [16], "n_heads": 2, "transformer_layers": 1, "ff_dim": 16,
                "tower_dims": [16, 16]}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        layer = nn.TransformerEncoderLayer(self.d, int(self.cfg(config, "n_heads")), int(self.cfg(config, "ff_dim")),
                                           dropout=self.dropout, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, int(self.cfg(config, "transformer_layers")),
                                                 enable_nested_tensor=False)
        self.experts = Experts(int(self.cfg(config, "n_experts")), self.input_dim, list(self.cfg(config, "expert_dims")),
                               self.dropout)
        e = self.experts.out_dim
        self.scenario_embedding = nn.Embedding(self.n_scenarios, self.d)
        self.query = nn.Linear(self.d, e)
        dims = [e, *self.cfg(config, "tower_dims")]
        self.tower = nn.ModuleList(MetaLinear(self.d, a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.head = nn.Linear(dims[-1], 1)
        self.init_embeddings()

    def logit(self, interaction):
        s = self.scenario_embedding(self.scenario(interaction))
        h = self.transformer(self.field_embeddings(interaction)).flatten(1)
        experts = self.experts(h)  # [B, n, e]
        attn = torch.softmax((experts * self.query(s).unsqueeze(1)).sum(-1) / experts.shape[-1] ** 0.5, -1)
        z = (experts * attn.unsqueeze(-1)).sum(1)
        for layer in self.tower:
            z = torch.relu(layer(z, s)) + z if layer.in_dim == layer.out_dim else torch.relu(layer(z, s))
        return self.head(z)
