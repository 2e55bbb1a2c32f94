"""GPRec: bi-level user modelling (group + individual) plugged into a deep CTR backbone (arXiv 2410.20730).

The official model code is not available; this is built from the paper's text. What is from the
paper: G learnable user groups with a soft assignment from user-side features; a positive and a
negative group embedding space that contrast what a group likes and dislikes; an individual
representation from ID-like user features, kept apart from the group representation; the group
and individual signals added to a backbone's prediction; the loss of the official training script
BCE(y) + BCE(y_group_positive) + BCE(y_main) - 0.001 * BCE(y_group_negative).

Our design choices: the assignment is softmax(Linear(user-side embeddings) / tau); scores are
inner products with a projection of the item-side embeddings; the final logit is
main + positive - negative + individual; "kept apart" is a penalty on the squared cosine between
the individual and the positive group vectors (``decorrelation_weight``). The negative-space term:
subtracting an unbounded BCE lets the loss run to minus infinity, so we minimise the bounded
equivalent, BCE of the negative space against the flipped label, with the same weight 0.001.
``use_gprec = false`` is the plain backbone, the same code and embeddings without the GPRec terms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recsys.models.context.backbones import Backbone
from recsys.models.context.base import ScenarioRecommender
from recsys.models.registry import register_model

USER_SIDE = ("user_id", "gender", "age", "occupation", "zip_code")


@register_model("GPRec", "context", description="Group + individual user modelling on a CTR backbone (or the backbone alone)")
class GPRec(ScenarioRecommender):
    DEFAULTS = {"backbone": "mlp", "use_gprec": True, "mlp_dims": [64, 32, 16], "n_groups": 8, "group_dim": 16,
                "group_tau": 1.0, "negative_weight": 1e-3, "decorrelation_weight": 1e-2, "user_fields": list(USER_SIDE)}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.use_gprec = bool(self.cfg(config, "use_gprec"))
        self.backbone = Backbone(str(self.cfg(config, "backbone")).lower(), self.n_fields, self.d,
                                 list(self.cfg(config, "mlp_dims")), self.dropout)
        names = self.token_field_names + self.float_field_names  # RecBole's embedding order: tokens, then floats
        user_side = set(self.cfg(config, "user_fields"))
        self.user_idx = [i for i, f in enumerate(names) if f in user_side]
        self.item_idx = [i for i, f in enumerate(names) if f not in user_side and f != "scenario"]
        self.id_idx = [i for i, f in enumerate(names) if f == "user_id"] or self.user_idx[:1]
        if self.use_gprec and (not self.user_idx or not self.item_idx):
            raise ValueError(f"GPRec needs user-side and item-side fields; user_fields={sorted(user_side)}, "
                             f"fields={names}")
        g, dg = int(self.cfg(config, "n_groups")), int(self.cfg(config, "group_dim"))
        self.tau = float(self.cfg(config, "group_tau"))
        self.neg_w = float(self.cfg(config, "negative_weight"))
        self.decor_w = float(self.cfg(config, "decorrelation_weight"))
        if self.use_gprec:
            self.assign = nn.Linear(len(self.user_idx) * self.d, g)
            self.group_pos = nn.Parameter(torch.randn(g, dg) * 0.1)
            self.group_neg = nn.Parameter(torch.randn(g, dg) * 0.1)
            self.individual = nn.Linear(len(self.id_idx) * self.d, dg)
            self.item_proj = nn.Linear(len(self.item_idx) * self.d, dg)
        self.init_embeddings()

    def wants_first_order(self, config) -> bool:
        return str(self.cfg(config, "backbone")).lower() in ("widedeep", "deepfm")

    def parts(self, interaction) -> dict[str, torch.Tensor]:
        emb = self.field_embeddings(interaction)
        wide = self.first_order_linear(interaction) if hasattr(self, "first_order_linear") else None
        out = {"main": self.backbone(emb, wide).reshape(-1)}
        if self.use_gprec:
            p = torch.softmax(self.assign(emb[:, self.user_idx].flatten(1)) / self.tau, -1)
            gp, gn = p @ self.group_pos, p @ self.group_neg
            ind = self.individual(emb[:, self.id_idx].flatten(1))
            v = self.item_proj(emb[:, self.item_idx].flatten(1))
            out.update(pos=(gp * v).sum(-1), neg=(gn * v).sum(-1), ind=(ind * v).sum(-1),
                       decor=F.cosine_similarity(ind, gp, dim=-1).pow(2).mean())
        return out

    def logit(self, interaction):
        p = self.parts(interaction)
        return p["main"] + p["pos"] - p["neg"] + p["ind"] if self.use_gprec else p["main"]

    def calculate_loss(self, interaction):
        y = interaction[self.LABEL].float()
        p = self.parts(interaction)
        if not self.use_gprec:
            return self.loss_fct(p["main"], y)
        final = p["main"] + p["pos"] - p["neg"] + p["ind"]
        return (self.loss_fct(final, y) + self.loss_fct(p["pos"], y) + self.loss_fct(p["main"], y)
                + self.neg_w * self.loss_fct(p["neg"], 1 - y) + self.decor_w * p["decor"])
