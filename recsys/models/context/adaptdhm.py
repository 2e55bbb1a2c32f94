"""AdaptDHM: adaptive distribution hierarchical model (Li et al., 2022): routes samples by learned clusters.

Samples are assigned to one of K distributions (3) by cosine similarity of a routing vector (the
detached input) to K centres; centres move by an exponential moving average of their assigned
samples during training only (fixed in evaluation, so routing never depends on the batch). Each
layer's weight is the element-wise product of a shared and a cluster-specific weight.
The scenario is still an input feature, so routing can follow it where it matters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recsys.models.context.base import ScenarioRecommender
from recsys.models.context.star import StarLinear
from recsys.models.registry import register_model


@register_model("AdaptDHM", "multi_scenario", description="Cluster-routed shared x cluster-specific MLP")
class AdaptDHM(ScenarioRecommender):
    DEFAULTS = {"mlp_dims": [64, 64], "n_clusters": 3, "center_momentum": 0.9}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.k = int(self.cfg(config, "n_clusters"))
        self.momentum = float(self.cfg(config, "center_momentum"))
        dims = [self.input_dim, *self.cfg(config, "mlp_dims")]
        self.layers = nn.ModuleList(StarLinear(a, b, self.k) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in dims[1:])
        self.head = StarLinear(dims[-1], 1, self.k)
        self.drop = nn.Dropout(self.dropout)
        self.register_buffer("centers", F.normalize(torch.randn(self.k, self.input_dim), dim=-1))
        self.init_embeddings()

    def route(self, x: torch.Tensor) -> torch.Tensor:
        v = F.normalize(x.detach(), dim=-1)
        cluster = (v @ self.centers.T).argmax(-1)
        if self.training:
            with torch.no_grad():
                for c in torch.unique(cluster).tolist():
                    new = v[cluster == c].mean(0)
                    self.centers[c] = F.normalize(self.momentum * self.centers[c] + (1 - self.momentum) * new, dim=-1)
        return cluster

    def logit(self, interaction):
        x = self.flat(interaction)
        c = self.route(x)
        h = x
        for layer, norm in zip(self.layers, self.norms):
            h = self.drop(torch.relu(norm(layer(h, c))))
        return self.head(h, c)
