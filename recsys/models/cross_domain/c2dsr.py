"""C2DSR: "Contrastive Cross-Domain Sequential Recommendation" (Cao et al., CIKM 2022).

A cross-domain baseline from the LLM4CDSR / LLM-EDT papers' tables, with learned item ids only (no text):

- **Item graphs**: a *cross-domain* graph of item-to-next-item transitions in the users' mixed
  training sequences and a *single-domain* graph of transitions within each domain subsequence, each
  row-normalised (transition probabilities). Item inputs are ``mean(E, A E, ..., A^L E) + E``: a
  parameter-free propagation over the graph (the official layer's weight matrix is never applied),
  plus the item's own embedding; a cross table feeds the mixed thread, a single-domain table the
  domain threads.
- **Three causal transformer threads** (mixed, domain A, domain B), aligned as in
  ``recsys.models.cross_domain.threads``.
- **Prediction** for item j of domain d: ``<h_mixed + h_d, W_j> + b_j`` (a per-item output layer, the
  official ``lin_X`` / ``lin_Y``).
- **Loss**: ``lambda * (L_shared + L_specific) + (1 - lambda) * (MI_A + MI_B)``. ``L_shared`` scores
  with ``h_mixed`` alone, ``L_specific`` with ``h_mixed + h_d``; each is the target-domain softmax
  (``loss_type = "CE"``, the paper's) or BCE with target-domain negatives (``"BCE"``). ``MI_d`` is the
  cross-domain infomax: a bilinear discriminator tells the pair (domain-d user vector, mixed-thread
  vector over the *other* domain's positions) of the real sequence from the same pair where the
  user's domain-d items were replaced by random items of domain d.

The graphs are built from ``dataset.history_item_matrix()`` (the training sequences in time order, in
our view and in RecBole's); they are rebuilt with the model, not saved with its weights.
Differences from the official code: docs/models/c2dsr.md.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from recsys.models.cross_domain.base import CrossDomainSequential
from recsys.models.cross_domain.threads import ThreadEncoder, attention_allowed, bce, domain_mask
from recsys.models.protocol import config_value
from recsys.models.registry import register_model

DEFAULTS = {"hidden_size": 64, "inner_size": 256, "n_layers": 2, "n_heads": 1, "hidden_dropout_prob": 0.2,
            "attn_dropout_prob": 0.2, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "initializer_range": 0.02,
            "gnn_layers": 1, "task_weight": 0.7, "causal": True, "loss_type": "CE", "bce_negatives": 1}
NEEDS = ("item_domains",)


def transition_graphs(sequences: torch.Tensor, codes: np.ndarray, n_items: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(cross, single): row-normalised counts of item -> next item in each mixed sequence (cross) and in
    each domain subsequence (single). ``sequences``: [users, L] item ids in time order, 0 = padding."""
    seq = np.asarray(sequences, dtype=np.int64)
    cross_pairs, single_pairs = [], []
    for row in seq:
        items = row[row > 0]
        if len(items) > 1:
            cross_pairs.append(np.stack([items[:-1], items[1:]], 1))
        for d in (0, 1):
            sub = items[codes[items] == d]
            if len(sub) > 1:
                single_pairs.append(np.stack([sub[:-1], sub[1:]], 1))
    return _row_normalised(cross_pairs, n_items), _row_normalised(single_pairs, n_items)


def _row_normalised(pairs: list[np.ndarray], n: int) -> sp.csr_matrix:
    edges = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    m = sp.coo_matrix((np.ones(len(edges), dtype=np.float32), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    rows = np.asarray(m.sum(1)).ravel()
    inv = np.divide(1.0, rows, out=np.zeros_like(rows), where=rows > 0)
    return (sp.diags(inv.astype(np.float32)) @ m).tocsr()


def _torch_sparse(m: sp.csr_matrix) -> torch.Tensor:
    coo = m.tocoo()
    index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    return torch.sparse_coo_tensor(index, torch.from_numpy(coo.data.astype(np.float32)), coo.shape,
                                   check_invariants=False).coalesce()


@register_model("C2DSR", "cross_domain", needs=NEEDS, full_sequence=True,
                description="Contrastive cross-domain sequential recommender: item graphs + infomax (CIKM 2022)")
class C2DSR(CrossDomainSequential):
    CONFIG_DEFAULTS = DEFAULTS
    SEARCH_SPACE = {"learning_rate": ("log", 1e-4, 1e-2), "hidden_dropout_prob": ("float", 0.1, 0.6),
                    "attn_dropout_prob": ("float", 0.1, 0.6), "n_layers": ("int", 1, 3),
                    "gnn_layers": ("int", 1, 3), "task_weight": ("float", 0.3, 1.0)}
    NAME = "C2DSR"

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        d = self.d = int(config_value(config, "hidden_size", DEFAULTS))
        self.objective_inputs(config, DEFAULTS)
        codes = self.domain_inputs(config)
        self.task_weight = float(config_value(config, "task_weight", DEFAULTS))
        if not 0.0 <= self.task_weight <= 1.0:
            raise ValueError(f"C2DSR: task_weight (the paper's lambda) must be in [0, 1], got {self.task_weight}")
        self.gnn_layers = int(config_value(config, "gnn_layers", DEFAULTS))
        self.causal = bool(config_value(config, "causal", DEFAULTS))
        cross, single = transition_graphs(dataset.history_item_matrix()[0], codes, self.n_items)
        self.graphs = (_torch_sparse(cross), _torch_sparse(single))  # from the data: not part of the state
        dropout = float(config_value(config, "hidden_dropout_prob", DEFAULTS))
        args = (d, int(config_value(config, "n_layers", DEFAULTS)), int(config_value(config, "n_heads", DEFAULTS)),
                int(config_value(config, "inner_size", DEFAULTS)), dropout,
                float(config_value(config, "attn_dropout_prob", DEFAULTS)), str(config_value(config, "hidden_act", DEFAULTS)),
                float(config_value(config, "layer_norm_eps", DEFAULTS)))
        self.item_embedding = nn.Embedding(self.n_items, d, padding_idx=0)  # cross-domain table
        self.single_embedding = nn.Embedding(self.n_items, d, padding_idx=0)  # single-domain table
        self.graph_dropout = nn.Dropout(dropout)
        self.mixed_position = nn.Embedding(self.max_seq_length, d)
        self.mixed = ThreadEncoder(*args)
        self.domain_position = nn.ModuleList(nn.Embedding(self.max_seq_length, d) for _ in range(2))
        self.domain_threads = nn.ModuleList(ThreadEncoder(*args) for _ in range(2))
        self.output = nn.Linear(d, self.n_items)  # W_j, b_j: the official per-domain output layers, one row per item
        self.discriminators = nn.ModuleList(nn.Bilinear(d, d, 1) for _ in range(2))
        std = float(config_value(config, "initializer_range", DEFAULTS))
        for emb in (self.item_embedding, self.single_embedding, self.mixed_position, *self.domain_position):
            nn.init.normal_(emb.weight, std=std)
        for disc in self.discriminators:
            nn.init.xavier_uniform_(disc.weight)
            nn.init.zeros_(disc.bias)

    # -- item inputs ------------------------------------------------------------------------
    def propagate(self, table: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        """mean(E, A E, ..., A^L E) + E: the graph-smoothed table plus the item's own embedding."""
        graph = graph.to(table.device)
        h, total = table, table
        for _ in range(self.gnn_layers):
            h = torch.sparse.mm(graph, self.graph_dropout(h))
            total = total + h
        return total / (self.gnn_layers + 1) + table

    def tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(cross-domain item inputs, single-domain item inputs), one row per item."""
        return (self.propagate(self.item_embedding.weight, self.graphs[0]),
                self.propagate(self.single_embedding.weight, self.graphs[1]))

    # -- threads ----------------------------------------------------------------------------
    def encode_mixed(self, item_seq: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
        real = item_seq > 0
        pos = torch.arange(item_seq.shape[1], device=item_seq.device)
        x = cross[item_seq] * real[..., None] * math.sqrt(self.d) + self.mixed_position(pos)
        return self.mixed(x, attention_allowed(real, self.causal))

    def encode(self, item_seq: torch.Tensor, cross: torch.Tensor, single: torch.Tensor):
        """(mixed states [B, L, d], domain states [2, B, L, d])."""
        pos = torch.arange(item_seq.shape[1], device=item_seq.device)
        states = []
        for dom in (0, 1):
            mask = domain_mask(item_seq, self.item_domain, dom)
            x = single[item_seq * mask] * mask[..., None] * math.sqrt(self.d) + self.domain_position[dom](pos)
            states.append(self.domain_threads[dom](x, attention_allowed(mask, self.causal)))
        return self.encode_mixed(item_seq, cross), torch.stack(states)

    # -- training ---------------------------------------------------------------------------
    def full_sequence_loss(self, inputs: torch.Tensor, targets: torch.Tensor, gen=None,
                           users: torch.Tensor | None = None) -> torch.Tensor:
        cross, single = self.tables()
        h_mixed, h_dom = self.encode(inputs, cross, single)
        mask = targets > 0
        y = targets[mask]
        dy = self.item_domain[y]
        hm = h_mixed[mask]
        hd = torch.where(dy[:, None] == 0, h_dom[0][mask], h_dom[1][mask])
        rec = self.target_loss(hm, y, gen) + self.target_loss(hm + hd, y, gen)  # shared + specific
        if self.task_weight >= 1.0:
            return rec
        return self.task_weight * rec + (1 - self.task_weight) * self.infomax_loss(inputs, h_mixed, h_dom, cross, gen)

    def target_loss(self, h: torch.Tensor, y: torch.Tensor, gen=None) -> torch.Tensor:
        """The objective over the target domain for states ``h``: softmax CE over its items, or BCE with k of them."""
        w, b = self.output.weight, self.output.bias
        if self.objective == "ce":
            return self.candidates.softmax_ce(lambda rows, items: h[rows] @ w[items].T + b[items], y)
        neg = self.candidates.negatives(y, gen, self.k)
        hn = h[:, None] if neg.dim() == 2 else h
        return bce((h * w[y]).sum(-1) + b[y], (hn * w[neg]).sum(-1) + b[neg])

    def corrupted(self, inputs: torch.Tensor, dom: int, gen=None) -> torch.Tensor:
        """The sequences with every domain-``dom`` item replaced by a random item of that domain (the other
        domain's items and all positions kept)."""
        mask = domain_mask(inputs, self.item_domain, dom)
        out = inputs.clone()
        if mask.any():
            out[mask] = self.candidates.negatives(inputs[mask], gen)
        return out

    def infomax_loss(self, inputs, h_mixed, h_dom, cross, gen=None) -> torch.Tensor:
        """Sum over domains d of BCE(D_d(r_d, m_real), 1) + BCE(D_d(r_d, m_fake), 0): r_d the mean domain-d
        state over the user's domain-d positions, m the mean mixed state over the other domain's positions of
        the real sequence, or of the sequence whose domain-d items were randomised."""
        total = h_mixed.new_zeros(())
        for dom in (0, 1):
            own = domain_mask(inputs, self.item_domain, dom)
            other = domain_mask(inputs, self.item_domain, 1 - dom)
            keep = own.any(1) & other.any(1)
            if not keep.any():
                continue
            r = _masked_mean(h_dom[dom], own)[keep]
            real = _masked_mean(h_mixed, other)[keep]
            fake = _masked_mean(self.encode_mixed(self.corrupted(inputs, dom, gen), cross), other)[keep]
            s_real, s_fake = self.discriminators[dom](r, real), self.discriminators[dom](r, fake)
            total = total + F.binary_cross_entropy_with_logits(s_real, torch.ones_like(s_real)) \
                + F.binary_cross_entropy_with_logits(s_fake, torch.zeros_like(s_fake))
        return total

    # -- prediction -------------------------------------------------------------------------
    def last_states(self, item_seq, item_seq_len):
        cross, single = self.tables()
        h_mixed, h_dom = self.encode(item_seq, cross, single)
        rows, last = torch.arange(len(item_seq)), item_seq_len - 1
        return h_mixed[rows, last], h_dom[:, rows, last]

    def forward(self, item_seq, item_seq_len):
        return self.last_states(item_seq, item_seq_len)[0]

    def full_sort_predict(self, interaction):
        hm, hd = self.last_states(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        w, b = self.output.weight, self.output.bias
        return torch.where(self.item_domain[None] == 0, (hm + hd[0]) @ w.T + b, (hm + hd[1]) @ w.T + b)

    def predict(self, interaction):
        hm, hd = self.last_states(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        items = interaction[self.ITEM_ID]
        h = hm + torch.where(self.item_domain[items][:, None] == 0, hd[0], hd[1])
        return (h * self.output.weight[items]).sum(-1) + self.output.bias[items]


def _masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, d]: the mean of ``states`` [B, L, d] over the positions where ``mask`` [B, L] holds (0 where none)."""
    m = mask.float()[..., None]
    return (states * m).sum(1) / m.sum(1).clamp(min=1.0)
