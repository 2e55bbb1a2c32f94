"""EPNet: the embedding personalisation network of PEPNet (Chang et al., KDD 2023).

A gate network on [scenario embedding, stop-gradient of the general field embeddings]
(Linear - ReLU - Linear - 2 * sigmoid) rescales the field embeddings per sample; an MLP
gives the logit.
"""

from __future__ import annotations

import torch
from torch import nn

from recsys.models.context.base import ScenarioRecommender
from recsys.models.registry import register_model
from recsys.nn.ctr import MLP, ScaleGate


@register_model("EPNet", "multi_scenario", description="Scenario-conditioned embedding gate + MLP (PEPNet)")
class EPNet(ScenarioRecommender):
    DEFAULTS = {"mlp_dims": [128, 64, 32], "gate_hidden": 64}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.scenario_embedding = nn.Embedding(self.n_scenarios, self.d)
        self.gate = ScaleGate(self.d + self.input_dim, self.input_dim, int(self.cfg(config, "gate_hidden")))
        self.mlp = MLP(self.input_dim, list(self.cfg(config, "mlp_dims")), self.dropout, output=True)
        self.init_embeddings()

    def logit(self, interaction):
        x = self.flat(interaction)
        s = self.scenario_embedding(self.scenario(interaction))
        return self.mlp(x * self.gate(torch.cat([s, x.detach()], -1)))
