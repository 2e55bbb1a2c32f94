"""PPNet: the parameter personalisation network of PEPNet (Chang et al., KDD 2023).

Per-scenario towers over the general field embeddings; every hidden layer's output is scaled
by a gate network on [user and item ID embeddings, stop-gradient of the general embeddings].
Difference from the official code: there the tower ignored the un-detached general embedding,
so the field embeddings got no gradient from the tower; here the tower reads them directly.
"""

from __future__ import annotations

import torch
from torch import nn

from recsys.models.context.base import ScenarioRecommender
from recsys.models.registry import register_model
from recsys.nn.ctr import ScaleGate, select


@register_model("PPNet", "multi_scenario", description="Per-scenario towers with ID-conditioned layer gates (PEPNet)")
class PPNet(ScenarioRecommender):
    DEFAULTS = {"mlp_dims": [128, 64, 32], "gate_hidden": 64}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        dims = [self.input_dim, *self.cfg(config, "mlp_dims")]
        self.id_fields = [i for i, f in enumerate(self.token_field_names) if f in ("user_id", "item_id")]
        cond = self.d * len(self.id_fields) + self.input_dim
        hidden = int(self.cfg(config, "gate_hidden"))
        self.gates = nn.ModuleList(ScaleGate(cond, b, hidden) for b in dims[1:])
        self.towers = nn.ModuleList(
            nn.ModuleList(nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()) for a, b in zip(dims[:-1], dims[1:]))
            for _ in range(self.n_scenarios))
        self.heads = nn.ModuleList(nn.Linear(dims[-1], 1) for _ in range(self.n_scenarios))
        self.drop = nn.Dropout(self.dropout)
        self.init_embeddings()

    def logit(self, interaction):
        emb = self.field_embeddings(interaction)
        x = emb.flatten(1)
        ids = emb[:, self.id_fields].flatten(1) if self.id_fields else x[:, :0]
        cond = torch.cat([ids, x.detach()], -1)
        scales = [g(cond) for g in self.gates]
        outs = []
        for tower, head in zip(self.towers, self.heads):
            h = x
            for layer, scale in zip(tower, scales):
                h = self.drop(layer(h) * scale)
            outs.append(head(h))
        return select(torch.cat(outs, 1), self.scenario(interaction))
