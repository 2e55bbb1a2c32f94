"""HNLMRec: hard negative sampling via language models for collaborative filtering.

LightGCN with one uniform negative per positive, plus a semantic hard negative per training
pair (user, positive) from the LLM side (``recsys.llm.hard_negatives``: an LLM's description of
an item the user would not like, embedded by the text encoder; or the named non-LLM fallback
``nearest-text``). A trained adapter maps the hard negative's text vector h into the CF space;
the negative that enters the ranking loss is the mix  e~ = alpha * adapter(h) + (1 - alpha) * e_rand;
the loss is the hinge max(0, u.e~ - u.e_pos + margin) (official) or BPR, plus L2 on the batch's
ID embeddings and a contrastive term pushing the user towards the positive and away from the
hard negative (cosines, temperature 0.2), ramped in over ``contrastive_warmup`` steps (its cosine
gradients scale as 1/||u||, large at initialisation). The adapter's output is rescaled to the
uniform negative's norm (``bounded_mix``), and an alignment term (the paper's semantic alignment)
pulls it towards the collaborative embedding of the hard negative's own catalogue item.

``negative_mode = "item"`` is the "embedding-nearest negatives" baseline: the hard negative's
catalogue item (its own CF embedding) replaces the uniform negative; no adapter, no mix.

Differences from the official code (docs/models/hnlmrec.md): the adapter is in the optimiser;
negatives are looked up by our (user, item) indices, the ones they were built with; a missing
hard negative falls back to the uniform one explicitly, never to random vectors.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.utils import InputType
from torch import nn

from recsys.models.protocol import config_value
from recsys.models.registry import register_model
from recsys.nn.graph import LightGCNEncoder

DEFAULTS = {"embedding_size": 64, "n_layers": 2, "reg_weight": 1e-4, "alpha": 1e-4, "margin": 0.3,
            "hnlm_loss": "hinge", "contrastive_weight": 1e-3, "contrastive_tau": 0.2, "adapter_hidden": 128,
            "negative_mode": "mix", "bounded_mix": True, "align_weight": 0.1, "contrastive_warmup": 1000}
INPUT_KEYS = ("hard_negative_pairs", "hard_negative_vectors")



@register_model("HNLMRec", "general", needs=INPUT_KEYS,
                description="LightGCN with LLM-side semantic hard negatives (mixed, adapted)")
class HNLMRec(GeneralRecommender):
    input_type = InputType.PAIRWISE
    CONFIG_DEFAULTS = DEFAULTS
    SEARCH_SPACE = {"learning_rate": ("log", 1e-4, 1e-2), "n_layers": ("int", 1, 4), "reg_weight": ("log", 1e-6, 1e-2),
                    "margin": ("float", 0.1, 1.0), "contrastive_weight": ("log", 1e-4, 1e-1)}
    INPUT_DEFAULTS = {"hard_negative_generator": "none"}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        missing = [k for k in INPUT_KEYS if config[k] is None]
        if missing:
            raise ValueError(f"HNLMRec needs config keys {missing}: the hard negatives of the training pairs. "
                             "recsys's pipeline adds them (recsys.llm.inputs.model_inputs); inside RecBole, build "
                             "them with model_inputs and re-index with recsys.recbole.ids.align_to_recbole")
        self.loss_kind = str(config_value(config, "hnlm_loss", DEFAULTS))
        self.loss_family = ((self.loss_kind, "hinge with margin, LLM-side hard negative") if self.loss_kind == "hinge"
                            else ("bpr", "BPR, LLM-side hard negative"))
        self.mode = str(config_value(config, "negative_mode", DEFAULTS))
        if self.loss_kind not in ("hinge", "bpr") or self.mode not in ("mix", "item"):
            raise ValueError(f"hnlm_loss must be hinge|bpr and negative_mode mix|item; got {self.loss_kind!r}, "
                             f"{self.mode!r}")
        inter = dataset.inter_matrix(form="csr").astype(np.float32)  # the training graph only
        d = int(config_value(config, "embedding_size", DEFAULTS))
        self.encoder = LightGCNEncoder(inter, d, int(config_value(config, "n_layers", DEFAULTS)))
        self.reg_weight, self.alpha = float(config_value(config, "reg_weight", DEFAULTS)), float(config_value(config, "alpha", DEFAULTS))
        self.margin = float(config_value(config, "margin", DEFAULTS))
        self.contrastive_weight = float(config_value(config, "contrastive_weight", DEFAULTS))
        self.tau = float(config_value(config, "contrastive_tau", DEFAULTS))
        pairs = np.asarray(config["hard_negative_pairs"], dtype=np.int64)
        vectors = np.asarray(config["hard_negative_vectors"], dtype=np.float32)
        if len(pairs) != len(vectors) or pairs.ndim != 2 or pairs.shape[1] != 3:
            raise ValueError("hard_negative_pairs must be [n, 3] (user, item, negative item) aligned with "
                             f"hard_negative_vectors [n, D]; got {pairs.shape} and {vectors.shape}")
        self.n_item_ids = int(self.n_items)
        keys = pairs[:, 0] * self.n_item_ids + pairs[:, 1]
        order = np.argsort(keys, kind="stable")
        found = np.abs(vectors).sum(1) > 0
        self.register_buffer("pair_keys", torch.from_numpy(keys[order]))
        self.register_buffer("pair_vectors", torch.from_numpy(vectors[order]))
        self.register_buffer("pair_items", torch.from_numpy(pairs[order, 2]))
        self.register_buffer("pair_found", torch.from_numpy(found[order] & (pairs[order, 2] > 0)))
        self.bounded = bool(config_value(config, "bounded_mix", DEFAULTS))
        self.align_weight = float(config_value(config, "align_weight", DEFAULTS))
        self.warmup = int(config_value(config, "contrastive_warmup", DEFAULTS))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        hidden = int(config_value(config, "adapter_hidden", DEFAULTS))
        self.adapter = nn.Sequential(nn.Linear(vectors.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, d))
        self.last_terms: dict[str, float] = {}

    def hard_negatives(self, user: torch.Tensor, pos: torch.Tensor):
        """(row of each pair in the tables, whether it has a hard negative)."""
        keys = user * self.n_item_ids + pos
        row = torch.searchsorted(self.pair_keys, keys).clamp(max=len(self.pair_keys) - 1)
        return row, (self.pair_keys[row] == keys) & self.pair_found[row]

    def calculate_loss(self, interaction):
        user, pos, neg = interaction[self.USER_ID], interaction[self.ITEM_ID], interaction[self.NEG_ITEM_ID]
        users, items = self.encoder()
        u, e_pos, e_neg = users[user], items[pos], items[neg]
        row, found = self.hard_negatives(user, pos)
        terms = {}
        if self.mode == "mix":
            adapted = self.adapter(self.pair_vectors[row])
            hard = self.bounded_negative(adapted, e_neg)
            mixed = torch.where(found[:, None], self.alpha * hard + (1 - self.alpha) * e_neg, e_neg)
            terms["adapter_norm"] = float(adapted.detach().norm(dim=-1).mean())
        else:
            hard = items[self.pair_items[row]]
            mixed = torch.where(found[:, None], hard, e_neg)
        gap = (u * mixed).sum(-1) - (u * e_pos).sum(-1)
        rank = F.relu(gap + self.margin).mean() if self.loss_kind == "hinge" else F.softplus(gap).mean()
        loss = rank + self.reg_weight * self.encoder.l2(user, pos, neg)
        terms.update(rank=float(rank.detach()), hard_share=float(found.float().mean()),
                     inside_margin=float((gap + self.margin > 0).float().mean()))
        if self.mode == "mix" and self.align_weight > 0:  # the semantic alignment: LLM-side space -> CF space
            known = found & (self.pair_items[row] > 0)
            if known.any():
                align = (1 - F.cosine_similarity(adapted[known], items[self.pair_items[row][known]].detach(), dim=-1)).mean()
                loss = loss + self.align_weight * align
                terms["align"] = float(align.detach())
        ramp = min(1.0, float(self.steps + 1) / max(self.warmup, 1)) if self.training else 1.0
        if self.contrastive_weight > 0 and found.any():
            cp = F.cosine_similarity(u[found], e_pos[found], dim=-1) / self.tau
            ch = F.cosine_similarity(u[found], hard[found], dim=-1) / self.tau
            contrast = (torch.logsumexp(torch.stack([cp, ch]), 0) - cp).mean()
            loss = loss + ramp * self.contrastive_weight * contrast
            terms["contrastive"] = float(contrast.detach())
        if self.training:
            self.steps += 1
        self.last_terms = terms
        return loss

    def bounded_negative(self, adapted: torch.Tensor, e_neg: torch.Tensor) -> torch.Tensor:
        """The adapter's output rescaled to the uniform negative's norm (its direction is learned, its size is
        not): with ``bounded_mix`` off, nothing stops Adam from growing it until alpha * h dominates the mix and
        the hard negative points away from the user (issue 25: norm 11 -> 5,239 in 12 epochs)."""
        if not self.bounded:
            return adapted
        return adapted * (e_neg.detach().norm(dim=-1, keepdim=True) / adapted.norm(dim=-1, keepdim=True).clamp(min=1e-8))

    def predict(self, interaction):
        users, items = self.encoder()
        return (users[interaction[self.USER_ID]] * items[interaction[self.ITEM_ID]]).sum(-1)

    def full_sort_predict(self, interaction):
        users, items = self.encoder()
        return (users[interaction[self.USER_ID]] @ items.T).reshape(-1)
