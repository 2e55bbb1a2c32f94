"""H2Rec: harmonising semantic IDs and hash IDs for sequential recommendation (KDD 2026).

Two views of every item: a hash ID (HID, one trainable embedding per item: collaborative
signal, weak on tail items) and a semantic ID (SID: codes of its quantised text embedding,
shared by similar items: good for the tail, blurs head items). H2Rec keeps both:

- **SID -> HID path**: for every SID level, causal cross-attention with queries from that
  level's code sequence and keys/values from the hash sequence; the level views are mixed
  by a gate (per position, from the hash state there and a prior favouring coarse levels),
  then encoded by the shared causal transformer.
- **HID -> SID path**: causal cross-attention with queries from the hash sequence and
  keys/values from the fused SID sequence, then the same shared transformer.
- **Scoring**: ``<[h_hash ; h_sid], [E_hid(j) ; E_sid(j)]>`` over the full catalogue.
- **Item-level alignment**: InfoNCE between the SID and HID embeddings of a batch's target
  items, positives = the item itself plus its co-occurrence neighbours (training data only).
- **Sequence-level alignment**: the SID views with the lowest gate weights are replaced by
  learnable mask vectors; the masked and full sequence representations are contrasted.

Every attention path is causal (the official code has no causal mask anywhere) and the gate
and the sequence representation read each user's last *real* position (the official code
reads a padding position for most users). The model only receives tensors, through config
keys ``item_text_embeddings``, ``item_sids`` and ``item_cooccurrence`` (see
``recsys.llm.inputs``). Differences from the official code: ``docs/models/h2rec.md``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.model.layers import TransformerEncoder
from recbole.utils import InputType
from torch import nn

from recsys.models.protocol import config_value
from recsys.models.registry import register_model
from recsys.nn.catalogue_softmax import catalogue_cross_entropy

INPUT_KEYS = ("item_text_embeddings", "item_sids", "item_cooccurrence")
DEFAULTS = {"hidden_size": 64, "inner_size": 256, "n_layers": 2, "n_heads": 1, "cross_heads": 4,
            "hidden_dropout_prob": 0.5, "attn_dropout_prob": 0.5, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
            "loss_type": "CE", "item_align_weight": 0.1, "item_align_tau": 0.5, "seq_align_weight": 0.1,
            "seq_align_tau": 1.0, "seq_mask_share": 0.5, "sid_trainable": False, "gate": "mlp",
            "initializer_range": 0.02}



class CrossAttention(nn.Module):
    """Multi-head attention with queries from one sequence and keys/values from another (post-LN)."""

    def __init__(self, hidden: int, heads: int, dropout: float, attn_dropout: float, eps: float):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden_size {hidden} is not a multiple of the cross-attention heads {heads}")
        self.heads = heads
        self.q, self.k, self.v, self.out = (nn.Linear(hidden, hidden) for _ in range(4))
        self.attn_dropout = attn_dropout
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, query: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = query.shape

        def split(x):
            return x.view(b, -1, self.heads, d // self.heads).transpose(1, 2)

        ctx = F.scaled_dot_product_attention(split(self.q(query)), split(self.k(memory)), split(self.v(memory)),
                                             attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0)
        ctx = ctx.transpose(1, 2).reshape(b, n, d)
        return self.norm(query + self.dropout(self.out(ctx)))


@register_model("H2Rec", "sequential", needs=("item_text_embeddings", "item_sids", "item_cooccurrence"),
                full_sequence=True, description="semantic-ID + hash-ID sequential recommender (KDD 2026)")
class H2Rec(SequentialRecommender):
    input_type = InputType.POINTWISE  # RecBole asks; the loss is chosen by loss_type
    CONFIG_DEFAULTS = DEFAULTS  # the keys recsys accepts for this model (RecBole has no yaml for it)
    #: what ``recsys tune`` may change (recsys.tune.spaces), beside SASRec's space for a like-for-like budget
    SEARCH_SPACE = {"learning_rate": ("log", 1e-4, 1e-2), "hidden_dropout_prob": ("float", 0.1, 0.6),
                    "attn_dropout_prob": ("float", 0.1, 0.6), "n_layers": ("int", 1, 3),
                    "item_align_weight": ("log", 1e-3, 1.0), "seq_align_weight": ("log", 1e-3, 1.0)}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        missing = [k for k in INPUT_KEYS if config[k] is None]
        if missing:
            raise ValueError(f"H2Rec needs config keys {missing}: item text embeddings, semantic IDs and training "
                             "co-occurrence neighbours aligned with the dataset's item ids. recsys's pipeline "
                             "adds them (recsys.llm.inputs.model_inputs); inside RecBole, build them with "
                             "recsys.llm.inputs.h2rec_inputs_for_recbole(dataset, prepared_dataset)")
        d = int(config_value(config, "hidden_size", DEFAULTS))
        self.d = d
        self.loss_type = config_value(config, "loss_type", DEFAULTS)
        self.item_align_weight = float(config_value(config, "item_align_weight", DEFAULTS))
        self.item_align_tau = float(config_value(config, "item_align_tau", DEFAULTS))
        self.seq_align_weight = float(config_value(config, "seq_align_weight", DEFAULTS))
        self.seq_align_tau = float(config_value(config, "seq_align_tau", DEFAULTS))
        self.seq_mask_share = float(config_value(config, "seq_mask_share", DEFAULTS))
        dropout, attn_dropout = float(config_value(config, "hidden_dropout_prob", DEFAULTS)), float(config_value(config, "attn_dropout_prob", DEFAULTS))
        eps = float(config_value(config, "layer_norm_eps", DEFAULTS))

        text = np.asarray(config["item_text_embeddings"], dtype=np.float32)
        sids = np.asarray(config["item_sids"], dtype=np.int64)
        if len(text) != self.n_items or len(sids) != self.n_items:
            raise ValueError(f"H2Rec inputs have {len(text)} embedding rows and {len(sids)} SID rows; the dataset "
                             f"has {self.n_items} item ids (including padding 0): align them with the dataset")
        self.levels = sids.shape[1]
        self.codes = int(sids.max()) + 1
        # hash-ID table, initialised from the text embeddings' principal components, trainable
        self.item_embedding = nn.Embedding(self.n_items, d, padding_idx=0)
        self.item_embedding.weight.data.copy_(torch.from_numpy(_pca_init(text, d)))
        # one codebook per SID level: the residual centroids of the codes (code ``codes`` = no text)
        books = _residual_codebooks(text, sids, self.codes, d)
        self.codebooks = nn.Parameter(torch.from_numpy(books), requires_grad=bool(config_value(config, "sid_trainable", DEFAULTS)))
        self.register_buffer("item_codes", torch.from_numpy(np.where(sids < 0, self.codes, sids)))
        self.sid_proj = nn.Linear(d, d)
        self.position_embedding = nn.Embedding(self.max_seq_length, d)
        self.dropout = nn.Dropout(dropout)
        heads = int(config_value(config, "cross_heads", DEFAULTS))
        self.sid_to_hid = nn.ModuleList(CrossAttention(d, heads, dropout, attn_dropout, eps)
                                        for _ in range(self.levels))
        self.hid_to_sid = CrossAttention(d, heads, dropout, attn_dropout, eps)
        self.gate_kind = config_value(config, "gate", DEFAULTS)
        self.register_buffer("prior", torch.linspace(1.0, 0.2, self.levels))
        self.gate = nn.Sequential(nn.Linear(d + self.levels, d), nn.ReLU(), nn.Linear(d, self.levels))
        self.static_gate = nn.Parameter(torch.zeros(self.levels))
        self.level_mask = nn.Parameter(torch.zeros(self.levels, d))
        self.backbone = TransformerEncoder(n_layers=int(config_value(config, "n_layers", DEFAULTS)), n_heads=int(config_value(config, "n_heads", DEFAULTS)),
                                           hidden_size=d, inner_size=int(config_value(config, "inner_size", DEFAULTS)),
                                           hidden_dropout_prob=dropout, attn_dropout_prob=attn_dropout,
                                           hidden_act=config_value(config, "hidden_act", DEFAULTS), layer_norm_eps=eps)
        nn.init.normal_(self.position_embedding.weight, std=float(config_value(config, "initializer_range", DEFAULTS)))
        nn.init.normal_(self.level_mask, std=float(config_value(config, "initializer_range", DEFAULTS)))
        co = config["item_cooccurrence"]
        self._neighbours = co.tocsr() if hasattr(co, "tocsr") else co
        self._rng = np.random.default_rng(int(config["seed"] or 0))

    # -- item representations ----------------------------------------------------------------
    def sid_levels(self, items: torch.Tensor) -> torch.Tensor:
        """[..., levels, d] level embeddings of items (codebook rows, projected)."""
        codes = self.item_codes[items]  # [..., levels]
        rows = self.codebooks[torch.arange(self.levels, device=codes.device), codes]  # [..., levels, d]
        return self.sid_proj(rows)

    def sid_item_embedding(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """E_sid: the mean of an item's level embeddings (all items when ``items`` is None)."""
        if items is None:
            items = torch.arange(self.n_items, device=self.item_codes.device)
        return self.sid_levels(items).mean(-2)

    def all_item_embeddings(self) -> torch.Tensor:
        """[n_items, 2d]: [E_hid ; E_sid] for scoring."""
        return torch.cat([self.item_embedding.weight, self.sid_item_embedding()], dim=1)

    # -- sequence encoders ---------------------------------------------------------------------
    def _mask(self, item_seq: torch.Tensor) -> torch.Tensor:
        """Additive [B, 1, L, L] mask: key must be a real item and not in the future."""
        return self.get_attention_mask(item_seq)

    def _inputs(self, emb: torch.Tensor) -> torch.Tensor:
        positions = self.position_embedding.weight[: emb.shape[-2]]
        return self.dropout(emb * math.sqrt(self.d) + positions)

    def _gate(self, hash_states: torch.Tensor) -> torch.Tensor:
        """[B, L, levels] level weights, per position (so the gate is causal too)."""
        if self.gate_kind == "static":
            return torch.softmax(self.static_gate, 0).expand(*hash_states.shape[:2], self.levels)
        prior = self.prior.expand(*hash_states.shape[:2], self.levels)
        return torch.softmax(self.gate(torch.cat([hash_states, prior], -1)), -1)

    def encode(self, item_seq: torch.Tensor, level_mask: torch.Tensor | None = None):
        """Per-position (h_hash, h_sid, alpha) for left-aligned ``item_seq`` [B, L].

        ``level_mask`` [B, L, levels] (bool) replaces those SID level views by the mask vectors.
        """
        mask = self._mask(item_seq)
        x_hash = self._inputs(self.item_embedding(item_seq))
        levels = self.sid_levels(item_seq)  # [B, L, levels, d]
        if level_mask is not None:
            levels = torch.where(level_mask[..., None], self.level_mask.expand_as(levels), levels)
        views = [self._inputs(levels[:, :, i]) for i in range(self.levels)]
        alpha = self._gate(x_hash)
        crossed = torch.stack([att(v, x_hash, mask) for att, v in zip(self.sid_to_hid, views)], -2)
        z_sid = (alpha[..., None] * crossed).sum(-2)
        fused = self._inputs(levels.mean(2))
        z_hash = self.hid_to_sid(x_hash, fused, mask)
        h_hash = self.backbone(z_hash, mask, output_all_encoded_layers=True)[-1]
        h_sid = self.backbone(z_sid, mask, output_all_encoded_layers=True)[-1]
        return h_hash, h_sid, alpha

    def forward(self, item_seq: torch.Tensor, item_seq_len: torch.Tensor) -> torch.Tensor:
        """[B, 2d] at each user's last real position (all positions under ``all_positions``)."""
        h_hash, h_sid, _ = self.encode(item_seq)
        return self.gather_indexes(torch.cat([h_hash, h_sid], -1), item_seq_len - 1)

    def score_hidden(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.all_item_embeddings().T

    # -- losses --------------------------------------------------------------------------------
    def _main_loss(self, h: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor | None) -> torch.Tensor:
        table = self.all_item_embeddings()
        if self.loss_type == "CE":  # the catalogue softmax over chunks of targets (recsys.nn)
            return catalogue_cross_entropy(h, table, targets)
        neg = negatives if negatives is not None else torch.randint(1, self.n_items, targets.shape,
                                                                    device=targets.device)
        pos_s, neg_s = (h * table[targets]).sum(-1), (h * table[neg]).sum(-1)
        return F.binary_cross_entropy_with_logits(torch.cat([pos_s, neg_s]),
                                                  torch.cat([torch.ones_like(pos_s), torch.zeros_like(neg_s)]))

    def item_alignment_loss(self, targets: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE between SID and HID views of the batch's distinct target items."""
        items = torch.unique(targets)  # a repeated item is never its own negative
        sid = F.normalize(self.sid_item_embedding(items), dim=-1)
        hid = F.normalize(self.item_embedding(items), dim=-1)
        logits = sid @ hid.T / self.item_align_tau
        idx = items.cpu().numpy()
        raw = torch.from_numpy(self._neighbours[idx][:, idx].toarray()).to(logits)
        raw.fill_diagonal_(1.0)
        a = -(raw / raw.sum(1, keepdim=True) * F.log_softmax(logits, 1)).sum(1).mean()
        b = -(raw.T / raw.T.sum(1, keepdim=True) * F.log_softmax(logits.T, 1)).sum(1).mean()
        return (a + b) / 2

    def sequence_alignment_loss(self, item_seq, item_seq_len, alpha, h_sid_full):
        """InfoNCE between the full and the level-masked SID-path representation at the last position."""
        n_mask = int(round(self.seq_mask_share * self.levels))
        if n_mask == 0 or len(item_seq) < 2:
            return h_sid_full.new_zeros(())
        lowest = alpha.detach().argsort(-1)[..., :n_mask]
        level_mask = torch.zeros_like(alpha, dtype=torch.bool).scatter_(-1, lowest, True)
        _, h_sid_masked, _ = self.encode(item_seq, level_mask)
        full = F.normalize(self.gather_indexes(h_sid_full, item_seq_len - 1), dim=-1)
        masked = F.normalize(self.gather_indexes(h_sid_masked, item_seq_len - 1), dim=-1)
        logits = full @ masked.T / self.seq_align_tau
        labels = torch.arange(len(full), device=full.device)
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2

    def _loss(self, h, y, neg, item_seq, item_seq_len, alpha, h_sid) -> torch.Tensor:
        """Main loss plus the weighted item- and sequence-level alignment terms."""
        loss = self._main_loss(h, y, neg)
        if self.item_align_weight:
            loss = loss + self.item_align_weight * self.item_alignment_loss(y)
        if self.seq_align_weight:
            loss = loss + self.seq_align_weight * self.sequence_alignment_loss(item_seq, item_seq_len, alpha, h_sid)
        return loss

    def full_sequence_loss(self, inputs: torch.Tensor, targets: torch.Tensor, gen=None) -> torch.Tensor:
        """Loss at every position of windows (recsys's full-sequence objective)."""
        h_hash, h_sid, alpha = self.encode(inputs)
        mask = targets > 0
        y = targets[mask]
        neg = torch.randint(1, self.n_items, y.shape, generator=gen) if self.loss_type != "CE" else None
        return self._loss(torch.cat([h_hash, h_sid], -1)[mask], y, neg, inputs, (inputs > 0).sum(1), alpha, h_sid)

    def calculate_loss(self, interaction):
        """RecBole's interface: one target per sample (the position after the sequence)."""
        item_seq, item_seq_len = interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]
        h_hash, h_sid, alpha = self.encode(item_seq)
        h = self.gather_indexes(torch.cat([h_hash, h_sid], -1), item_seq_len - 1)
        neg = interaction[self.NEG_ITEM_ID] if self.loss_type != "CE" and self.NEG_ITEM_ID in interaction else None
        return self._loss(h, interaction[self.POS_ITEM_ID], neg, item_seq, item_seq_len, alpha, h_sid)

    def predict(self, interaction):
        h = self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        items = interaction[self.ITEM_ID]
        table = torch.cat([self.item_embedding(items), self.sid_item_embedding(items)], -1)
        return (h * table).sum(-1)

    def full_sort_predict(self, interaction):
        return self.score_hidden(self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]))


def _pca_init(text: np.ndarray, d: int) -> np.ndarray:
    """Text embeddings reduced to ``d`` principal components, scaled to std 1/sqrt(d) (rows without text random)."""
    rng = np.random.default_rng(0)
    has = np.abs(text).sum(1) > 0
    has[0] = False
    out = rng.normal(0, 1 / math.sqrt(d), (len(text), d)).astype(np.float32)
    out[0] = 0
    if has.sum() > d:
        body = text[has] - text[has].mean(0)
        _, _, vt = np.linalg.svd(body, full_matrices=False)
        proj = body @ vt[:d].T
        out[has] = proj / proj.std() / math.sqrt(d)
    return out


def _residual_codebooks(text: np.ndarray, sids: np.ndarray, codes: int, d: int) -> np.ndarray:
    """[levels, codes + 1, d]: per level, the mean residual (in the PCA-d text space) of each code's items.

    This is the residual quantiser's own codebook, recomputed from the codes; each level is
    scaled to unit RMS so that fine levels are not drowned by the coarse one. Row ``codes``
    (items without text) is zero.
    """
    x = _pca_init(text, d).astype(np.float64)
    has = (sids >= 0).all(1)
    levels = sids.shape[1]
    books = np.zeros((levels, codes + 1, d), dtype=np.float64)
    residual = x[has].copy()
    for level in range(levels):
        c = sids[has, level]
        sums = np.zeros((codes, d))
        np.add.at(sums, c, residual)
        counts = np.bincount(c, minlength=codes)[:, None]
        centroids = sums / np.maximum(counts, 1)
        residual -= centroids[c]
        rms = np.sqrt((centroids[counts[:, 0] > 0] ** 2).mean()) if (counts > 0).any() else 1.0
        books[level, :codes] = centroids / max(rms, 1e-12) / math.sqrt(d)
    return books.astype(np.float32)
