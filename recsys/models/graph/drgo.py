"""DRGO: distributionally robust graph recommendation for out-of-distribution shifts (WWW 2025).

A latent diffusion model denoises every node's embedding before LightGCN propagates them over the
training graph (DiffRec's linear-variance schedule); the denoiser learns from its own diffusion
loss only, and the ranking stage uses its correction without gradient. The BPR loss is taken per
user group (k-means on an SVD of the training matrix) and weighted by an adversary whose weights
move by exponentiated gradient with an entropy regulariser, fast enough to reach their fixed point
softmax((L - transport) / entropy_weight) within a run; the Sinkhorn (OT) distance from the groups
to a "nominal" set (the training graph's most central nodes) enters the adversary's step, bounding
how far the worst case may move from it.

Differences from the official code (see docs/models/drgo.md): every trainable module is in the
optimiser; per-group losses are the groups' own means; the entropy is over the group weights,
not over embedding values; propagation uses the training graph only; training items are
masked at evaluation and the epoch is chosen on validation. Switches: ``use_diffusion`` and
``use_dro`` (off = plain mean BPR, no transport) give the paper's ablations.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType

from recsys.models.graph.diffusion import LatentDiffusion
from recsys.models.graph.dro import GroupWeights, sinkhorn_potentials, user_groups
from recsys.models.protocol import config_value
from recsys.models.registry import register_model
from recsys.nn.centrality import betweenness, top_fraction
from recsys.nn.graph import LightGCNEncoder, bipartite_adjacency

DEFAULTS = {
    "embedding_size": 64, "n_layers": 2, "reg_weight": 1e-3,
    "use_dro": True, "groups": 5, "svd_rank": 16, "dro_step_size": 1.0, "entropy_weight": 0.1,
    "loss_smoothing": 0.1, "sinkhorn_weight": 0.1, "sinkhorn_epsilon": 0.05, "sinkhorn_sample": 256,
    "reference_fraction": 0.05, "centrality_sources": 256,
    "use_diffusion": True, "diffusion_steps": 100, "noise_scale": 0.1, "noise_min": 1e-4, "noise_max": 0.02,
    "denoise_from": 5, "diffusion_weight": 1.0, "residual_denoiser": True, "noise_schedule": "linear-var",
}



@register_model("DRGO", "general", description="distributionally robust graph model for OOD recommendation (WWW 2025)")
class DRGO(GeneralRecommender):
    input_type = InputType.PAIRWISE
    CONFIG_DEFAULTS = DEFAULTS
    SEARCH_SPACE = {"learning_rate": ("log", 1e-4, 1e-2), "n_layers": ("int", 1, 4), "reg_weight": ("log", 1e-6, 1e-2),
                    "entropy_weight": ("log", 1e-2, 1.0), "diffusion_weight": ("log", 1e-2, 1.0)}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        inter = dataset.inter_matrix(form="csr").astype(np.float32)  # the training graph only
        seed = int(config["seed"] or 0)
        dim = int(config_value(config, "embedding_size", DEFAULTS))
        self.encoder = LightGCNEncoder(inter, dim, int(config_value(config, "n_layers", DEFAULTS)))
        self.reg_weight = float(config_value(config, "reg_weight", DEFAULTS))
        self.use_dro = bool(config_value(config, "use_dro", DEFAULTS))
        self.loss_family = ("bpr", "BPR, 1 uniform negative" + (", DRO group-weighted" if self.use_dro else ""))
        self.use_diffusion = bool(config_value(config, "use_diffusion", DEFAULTS))
        self.sinkhorn_weight = float(config_value(config, "sinkhorn_weight", DEFAULTS)) if self.use_dro else 0.0
        self.sinkhorn_epsilon = float(config_value(config, "sinkhorn_epsilon", DEFAULTS))
        self.sinkhorn_sample = int(config_value(config, "sinkhorn_sample", DEFAULTS))
        self.diffusion_weight = float(config_value(config, "diffusion_weight", DEFAULTS))
        k = int(config_value(config, "groups", DEFAULTS))
        self.register_buffer("user_group", torch.from_numpy(user_groups(inter, k, int(config_value(config, "svd_rank", DEFAULTS)), seed)))
        self.group_weights = GroupWeights(k, float(config_value(config, "dro_step_size", DEFAULTS)), float(config_value(config, "entropy_weight", DEFAULTS)),
                                          float(config_value(config, "loss_smoothing", DEFAULTS)))
        if self.sinkhorn_weight > 0:
            adj = bipartite_adjacency(inter)
            central = betweenness(adj, int(config_value(config, "centrality_sources", DEFAULTS)), seed=seed)
            nodes = np.flatnonzero(np.diff(adj.indptr) > 0)
            ref = top_fraction(central, float(config_value(config, "reference_fraction", DEFAULTS)), nodes)
            self.register_buffer("reference_nodes", torch.from_numpy(np.sort(ref)).long())
        self.diffusion = LatentDiffusion(dim, int(config_value(config, "diffusion_steps", DEFAULTS)), float(config_value(config, "noise_scale", DEFAULTS)),
                                         float(config_value(config, "noise_min", DEFAULTS)), float(config_value(config, "noise_max", DEFAULTS)),
                                         denoise_from=int(config_value(config, "denoise_from", DEFAULTS)),
                                         residual=bool(config_value(config, "residual_denoiser", DEFAULTS)),
                                         schedule=str(config_value(config, "noise_schedule", DEFAULTS))) if self.use_diffusion else None
        self.last_terms: dict[str, float] = {}

    def denoised(self, ego: torch.Tensor) -> torch.Tensor:
        """Every node's layer-0 embedding plus the denoiser's correction, held constant: the denoiser acts on
        the embeddings before propagation, as in the paper's pipeline, and learns from its own diffusion loss
        only (the official code runs the ranking stage on its output without gradient). Without the
        ``.detach()`` the BPR loss trains the denoiser to replace the user embedding (issue 25: a 32-73x change)."""
        if not self.use_diffusion:
            return ego
        return ego + (self.diffusion.denoise(ego) - ego).detach()

    def calculate_loss(self, interaction):
        user, pos, neg = interaction[self.USER_ID], interaction[self.ITEM_ID], interaction[self.NEG_ITEM_ID]
        users, items = self.encoder(self.denoised)
        u = users[user]
        per_sample = -F.logsigmoid((u * items[pos]).sum(-1) - (u * items[neg]).sum(-1))
        terms = {}
        if self.use_dro:
            g = self.user_group[user]
            k = len(self.group_weights.weights)
            counts = torch.bincount(g, minlength=k)
            group_loss = torch.zeros(k).index_add(0, g, per_sample) / counts.clamp(min=1)
            present = counts > 0
            transport = (self._transport(u, torch.cat([users, items]), g, counts, terms) if self.sinkhorn_weight > 0
                         else None)
            self.group_weights.update(group_loss, present, transport)
            w = self.group_weights.weights[present]
            rank = (w * group_loss[present]).sum() / w.sum()
            terms["weight_entropy"] = self.group_weights.entropy()
        else:
            rank = per_sample.mean()
        loss = rank + self.reg_weight * self.encoder.l2(user, pos, neg)
        terms["rank"] = float(rank.detach())
        if self.use_diffusion:  # the denoiser's own loss, on the nodes of this batch (detached: it trains only the denoiser)
            nodes = torch.cat([user, self.n_users + pos, self.n_users + neg]).unique()
            diff = self.diffusion.loss(self.encoder.ego()[nodes].detach())
            loss = loss + self.diffusion_weight * diff
            terms["diffusion"] = float(diff.detach())
        self.last_terms = terms
        return loss

    def _transport(self, u: torch.Tensor, nodes: torch.Tensor, g: torch.Tensor, counts: torch.Tensor,
                   terms: dict) -> torch.Tensor:
        """Per-group transport potentials from the batch's group centroids (weighted by the adversary) to the
        nominal reference nodes, scaled by ``sinkhorn_weight``; groups absent from the batch get 0."""
        k = len(counts)
        centroids = torch.zeros(k, u.shape[1]).index_add(0, g, u.detach()) / counts.clamp(min=1)[:, None]
        present = counts > 0
        ref_all = nodes[self.reference_nodes].detach()
        pick = torch.randint(0, len(ref_all), (min(self.sinkhorn_sample, len(ref_all)),))
        a = self.group_weights.weights[present] / self.group_weights.weights[present].sum()
        f, cost = sinkhorn_potentials(centroids[present], ref_all[pick], a, self.sinkhorn_epsilon)
        out = torch.zeros(k)
        out[present] = self.sinkhorn_weight * f
        terms["transport"] = float(cost)
        return out

    def predict(self, interaction):
        users, items = self.encoder(self.denoised)
        return (users[interaction[self.USER_ID]] * items[interaction[self.ITEM_ID]]).sum(-1)

    def full_sort_predict(self, interaction):
        users, items = self.encoder(self.denoised)
        return (users[interaction[self.USER_ID]] @ items.T).reshape(-1)
