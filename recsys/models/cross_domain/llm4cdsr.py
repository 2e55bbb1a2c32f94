"""LLM4CDSR: "Bridge the Domains: LLM-enhanced cross-domain sequential recommendation" (SIGIR 2025).

Three threads over one user's history, each a causal SASRec-style transformer:

- the **mixed thread** reads every item through a trainable adapter over frozen LLM text
  embeddings (``Linear(D -> D/2) -> Linear(D/2 -> d)``, no activation, as in the official code);
- two **domain threads** read the domain's items through a frozen per-domain PCA-``d`` table of
  the same text embeddings (see ``threads`` for how domain sequences line up with the mixed one).

The score of item j in domain d is ``<h_mixed, adapter(e_j)> + <h_d, pca_d(e_j)>``: the same
item in both terms, at training and at evaluation. Training: binary cross-entropy with one
negative per position drawn from the target's domain, plus two regularisers: an **item
contrastive** term (weight ``alpha``: one item of each domain per sequence, through the adapter)
and a **user profile** term (weight ``beta``: the frozen embedding of an LLM-written profile,
through ``Linear(P -> P/2) -> Linear(P/2 -> d)``, pulled toward the mixed thread's last state).
Profiles are training-only regularisers: they are not read at prediction.

Switches reproducing the official code (off by default): ``causal = false`` (its causal mask is
commented out: a position attends to its own target), ``independent_negatives = true`` (the
mixed and the domain term each draw their own negative). Differences: ``docs/models/llm4cdsr.md``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from recsys.models.cross_domain.base import CrossDomainSequential
from recsys.models.cross_domain.threads import (
    ThreadEncoder,
    attention_allowed,
    bce,
    domain_mask,
    item_table,
    pca_table,
    soft_contrastive,
)
from recsys.models.protocol import config_value
from recsys.models.registry import register_model

DEFAULTS = {"hidden_size": 64, "inner_size": 256, "n_layers": 2, "n_heads": 2, "hidden_dropout_prob": 0.5,
            "attn_dropout_prob": 0.5, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "initializer_range": 0.02,
            "alpha": 0.1, "beta": 0.1, "tau": 1.0, "causal": True, "independent_negatives": False,
            "id_residual": "missing", "loss_type": "BCE", "bce_negatives": 1, "item_table": "trainable"}
NEEDS = ("item_text_embeddings", "item_has_text", "item_domains", "user_profile_embeddings")



@register_model("LLM4CDSR", "cross_domain", needs=NEEDS, full_sequence=True,
                description="LLM-enhanced cross-domain sequential recommender, three threads (SIGIR 2025)")
class LLM4CDSR(CrossDomainSequential):
    CONFIG_DEFAULTS = DEFAULTS
    SEARCH_SPACE = {"learning_rate": ("log", 1e-4, 1e-2), "hidden_dropout_prob": ("float", 0.1, 0.6),
                    "attn_dropout_prob": ("float", 0.1, 0.6), "n_layers": ("int", 1, 3),
                    "alpha": ("log", 1e-3, 1.0), "beta": ("log", 1e-3, 1.0)}
    NAME = "LLM4CDSR"

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        d = self.d = int(config_value(config, "hidden_size", DEFAULTS))
        self.alpha, self.beta, self.tau = float(config_value(config, "alpha", DEFAULTS)), float(config_value(config, "beta", DEFAULTS)), float(config_value(config, "tau", DEFAULTS))
        self.causal = bool(config_value(config, "causal", DEFAULTS))
        self.independent_negatives = bool(config_value(config, "independent_negatives", DEFAULTS))
        self.objective_inputs(config, DEFAULTS)
        mode = str(config_value(config, "item_table", DEFAULTS))
        text, codes = self.text_inputs(config, d, str(config_value(config, "id_residual", DEFAULTS)), mode)
        table = np.zeros((self.n_items, d), dtype=np.float32)  # per-domain PCA tables, one row per item
        for dom in (0, 1):
            rows = np.flatnonzero(codes == dom)
            table[rows] = pca_table(text, rows, d)
        item_table(self, "domain_table", table, mode)  # trainable from the PCA rows, or frozen as the official code
        self.domain_id_embedding = nn.Embedding(self.n_items, d, padding_idx=0)  # ID residual, domain threads
        dropout, attn = float(config_value(config, "hidden_dropout_prob", DEFAULTS)), float(config_value(config, "attn_dropout_prob", DEFAULTS))
        args = (d, int(config_value(config, "n_layers", DEFAULTS)), int(config_value(config, "n_heads", DEFAULTS)), int(config_value(config, "inner_size", DEFAULTS)),
                dropout, attn, str(config_value(config, "hidden_act", DEFAULTS)), float(config_value(config, "layer_norm_eps", DEFAULTS)))
        self.mixed_position = nn.Embedding(self.max_seq_length, d)
        self.mixed = ThreadEncoder(*args)
        self.domain_position = nn.ModuleList(nn.Embedding(self.max_seq_length, d) for _ in range(2))
        self.domain_threads = nn.ModuleList(ThreadEncoder(*args) for _ in range(2))
        self.profile_inputs(config, d, self.beta)
        std = float(config_value(config, "initializer_range", DEFAULTS))
        for emb in (self.item_embedding, self.domain_id_embedding, self.mixed_position, *self.domain_position):
            nn.init.normal_(emb.weight, std=std)

    # -- item representations -------------------------------------------------------------
    mixed_items = CrossDomainSequential.adapted_items  # the mixed thread's item vectors

    def domain_items(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """Domain-thread item vectors: per-domain PCA row (trainable or frozen) + ID residual."""
        if items is None:
            return self.domain_table + self.domain_id_embedding.weight * self.id_rows[:, None]
        return self.domain_table[items] + self.domain_id_embedding(items) * self.id_rows[items, None]

    # -- threads ----------------------------------------------------------------------------
    def encode(self, item_seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mixed states [B, L, d], domain states [2, B, L, d]) at every position."""
        real = item_seq > 0
        pos = torch.arange(item_seq.shape[1], device=item_seq.device)
        scale = math.sqrt(self.d)
        x = self.mixed_items(item_seq) * real[..., None] * scale + self.mixed_position(pos)
        h_mixed = self.mixed(x, attention_allowed(real, self.causal))
        states = []
        for dom in (0, 1):
            mask = domain_mask(item_seq, self.item_domain, dom)
            xd = self.domain_items(item_seq * mask) * scale + self.domain_position[dom](pos)
            states.append(self.domain_threads[dom](xd, attention_allowed(mask, self.causal)))
        return h_mixed, torch.stack(states)

    def _pair_score(self, h_mixed, h_domain, items, neg_domain=None):
        """Score of ``items`` (``[n]``, or ``[n, k]`` negatives) in both thread terms; ``h_domain`` is already
        picked per row's domain. ``neg_domain``: other items for the domain term (``independent_negatives``)."""
        if items.dim() == 2:
            h_mixed, h_domain = h_mixed[:, None], h_domain[:, None]
        other = items if neg_domain is None else neg_domain
        return (h_mixed * self.mixed_items(items)).sum(-1) + (h_domain * self.domain_items(other)).sum(-1)

    # -- training ---------------------------------------------------------------------------
    def full_sequence_loss(self, inputs: torch.Tensor, targets: torch.Tensor, gen=None,
                           users: torch.Tensor | None = None) -> torch.Tensor:
        h_mixed, h_dom = self.encode(inputs)
        mask = targets > 0
        y = targets[mask]
        dy = self.item_domain[y]
        hm = h_mixed[mask]
        hd = torch.where(dy[:, None] == 0, h_dom[0][mask], h_dom[1][mask])
        loss = self.target_loss(hm, hd, y, gen)
        if self.alpha > 0:
            loss = loss + self.alpha * self.item_contrastive_loss(inputs, gen)
        if self.beta > 0 and self.profile is not None and users is not None:
            last = (inputs > 0).sum(1).clamp(min=1) - 1
            loss = loss + self.beta * self.profile.loss(users, h_mixed[torch.arange(len(inputs)), last], self.tau)
        return loss

    def target_loss(self, hm: torch.Tensor, hd: torch.Tensor, y: torch.Tensor, gen=None) -> torch.Tensor:
        """The objective over the target domain: softmax CE over its items, or BCE with k of its items."""
        if self.objective == "ce":
            return self.candidates.softmax_ce(
                lambda rows, items: hm[rows] @ self.mixed_items(items).T + hd[rows] @ self.domain_items(items).T, y)
        neg = self.candidates.negatives(y, gen, self.k)
        neg_domain = self.candidates.negatives(y, gen, self.k) if self.independent_negatives else None
        return bce(self._pair_score(hm, hd, y), self._pair_score(hm, hd, neg, neg_domain))

    def item_contrastive_loss(self, inputs: torch.Tensor, gen=None) -> torch.Tensor:
        """One random item of each domain per sequence (sequences holding both), through the adapter."""
        picks = []
        for dom in (0, 1):
            mask = domain_mask(inputs, self.item_domain, dom)
            r = torch.rand(inputs.shape, generator=gen) + mask.float()  # a real item always outranks the others
            picks.append((inputs.gather(1, r.argmax(1, keepdim=True))[:, 0], mask.any(1)))
        both = picks[0][1] & picks[1][1]
        if int(both.sum()) < 2:
            return inputs.new_zeros((), dtype=torch.float32)
        x = self.adapter(self.llm_table[picks[0][0][both]])
        y = self.adapter(self.llm_table[picks[1][0][both]])
        return soft_contrastive(x, y, self.tau)

    # -- prediction -------------------------------------------------------------------------
    def last_states(self, item_seq, item_seq_len):
        h_mixed, h_dom = self.encode(item_seq)
        rows, last = torch.arange(len(item_seq)), item_seq_len - 1
        return h_mixed[rows, last], h_dom[:, rows, last]

    def forward(self, item_seq, item_seq_len):
        return self.last_states(item_seq, item_seq_len)[0]

    def thread_scores(self, interaction) -> tuple[torch.Tensor, torch.Tensor]:
        """([B, N] mixed-thread term, [B, N] domain-thread term) of every item; item j's domain term uses
        the thread of j's own domain."""
        hm, hd = self.last_states(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        table = self.domain_items()
        by_domain = torch.where(self.item_domain[None] == 0, hd[0] @ table.T, hd[1] @ table.T)
        return hm @ self.mixed_items().T, by_domain

    def full_sort_predict(self, interaction):
        mixed, domain = self.thread_scores(interaction)
        return mixed + domain

    def predict(self, interaction):
        hm, hd = self.last_states(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        items = interaction[self.ITEM_ID]
        dom = self.item_domain[items]
        return self._pair_score(hm, torch.where(dom[:, None] == 0, hd[0], hd[1]), items)
