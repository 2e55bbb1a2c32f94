"""The base of our CTR models: RecBole's ``ContextRecommender`` plus the scenario id and one BCE loss.

Subclasses implement ``logit(interaction)``; ``predict`` is its sigmoid (a click probability, as
RecBole's context models return) and ``calculate_loss`` is binary cross-entropy on the label plus
any ``extra_loss``. Field embeddings are RecBole's own (``concat_embed_input_fields``: token
fields, and dense fields as value x vector); the scenario id is a token field like any other and,
for branching, ``scenario(interaction)`` gives it 0-based.
"""

from __future__ import annotations

import torch
from recbole.model.abstract_recommender import ContextRecommender
from recbole.utils import InputType
from torch import nn

from recsys.models.protocol import config_value

SCENARIO_FIELD = "scenario"


class ScenarioRecommender(ContextRecommender):
    input_type = InputType.POINTWISE
    DEFAULTS: dict = {}
    CONFIG_DEFAULTS: dict = {"embedding_size": 16, "dropout": 0.2}
    CONFIG_DEFAULTS: dict = {"embedding_size": 16, "dropout": 0.2}
    #: one space for every multi-scenario model: equal budgets over the settings they share
    SEARCH_SPACE = {"learning_rate": ("log", 1e-4, 1e-2), "dropout": ("float", 0.0, 0.5),
                    "embedding_size": ("choice", [8, 16, 32])}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.CONFIG_DEFAULTS = {"embedding_size": 16, "dropout": 0.2, **cls.DEFAULTS}  # the keys a run may set

    def __init__(self, config, dataset):
        defaults = {"embedding_size": 16, "dropout": 0.2, **self.DEFAULTS}
        if config["embedding_size"] is None:
            config["embedding_size"] = defaults["embedding_size"]
        self._defaults = defaults
        super().__init__(config, dataset)
        types = getattr(dataset, "field2type", {})
        self.has_scenario = SCENARIO_FIELD in types
        self.n_scenarios = max(dataset.num(SCENARIO_FIELD) - 1, 1) if self.has_scenario else 1
        self.n_fields = self.num_feature_field
        self.d = self.embedding_size
        self.input_dim = self.n_fields * self.d
        self.dropout = float(self.cfg(config, "dropout"))
        self.loss_fct = nn.BCEWithLogitsLoss()
        if not self.wants_first_order(config):  # RecBole builds it for every context model; unused ones go
            del self.first_order_linear

    def wants_first_order(self, config) -> bool:
        """Whether the model uses RecBole's first-order (wide) term; if not it is dropped (no dead parameters)."""
        return False

    def cfg(self, config, key: str):
        return config_value(config, key, self._defaults)

    def init_embeddings(self, std: float = 1e-4) -> None:
        """Scenario-Wise Rec's initialisation of the sparse embeddings: N(0, 1e-4)."""
        if hasattr(self, "token_embedding_table"):
            nn.init.normal_(self.token_embedding_table.embedding.weight, std=std)

    def field_embeddings(self, interaction) -> torch.Tensor:
        """``[B, F, d]``: every feature field's embedding (the scenario included)."""
        return self.concat_embed_input_fields(interaction)

    def flat(self, interaction) -> torch.Tensor:
        return self.field_embeddings(interaction).flatten(1)

    def scenario(self, interaction) -> torch.Tensor:
        if not self.has_scenario:
            return torch.zeros(len(interaction[self.LABEL] if self.LABEL in interaction.interaction else
                                   next(iter(interaction.interaction.values()))), dtype=torch.long)
        return (interaction[SCENARIO_FIELD].long() - 1).clamp(min=0, max=self.n_scenarios - 1)

    def logit(self, interaction) -> torch.Tensor:
        raise NotImplementedError

    def extra_loss(self, interaction) -> torch.Tensor | float:
        return 0.0

    def forward(self, interaction) -> torch.Tensor:
        return self.logit(interaction).reshape(-1)

    def calculate_loss(self, interaction):
        logit = self.forward(interaction)
        return self.loss_fct(logit, interaction[self.LABEL].float()) + self.extra_loss(interaction)

    def predict(self, interaction):
        return torch.sigmoid(self.forward(interaction))
