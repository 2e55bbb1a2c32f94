"""Building blocks shared by the cross-domain sequential models (LLM4CDSR, LLM-EDT).

Both models read a user's *mixed* sequence (every interaction in time order) and its two
*domain* sequences. Here a domain sequence keeps the mixed sequence's length and positions:
the other domain's items are blanked (id 0) and may not be attended to, so the domain thread's
output at position t is "the domain's state at time t" and lines up with the mixed thread's
output at t, whatever the target's domain. Every position may attend to itself (a blanked
position then still has its position embedding as a query) and, with ``causal``, only to
earlier positions: a position never sees its own target.

Item representations come from text embeddings, a trainable table initialised from them
(``item_table = "trainable"``, default) or frozen (``"frozen"``, the official code's
``from_pretrained``); items *without* real text (a recipe with partial coverage; Food-Kitchen has
none) would all start from one vector per domain, so they get a trainable ID residual
(``id_residual = "missing"``; ``"all"`` / ``"none"`` to change it).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from recbole.model.layers import TransformerEncoder
from torch import nn

from recsys.nn.domain_losses import bce_loss as bce  # noqa: F401  (the models' BCE; k negatives allowed)

ID_RESIDUAL = ("missing", "all", "none")
#: how the text-derived item tables train: "trainable" (initialised from the text embeddings, the
#: design the LLM4CDSR authors describe) or "frozen" (the official code's ``from_pretrained`` tables)
ITEM_TABLES = ("trainable", "frozen")


def attention_allowed(keys: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """[B, 1, L, L] bool: query i may attend to key j when j is a real key (``keys``), or j == i;
    with ``causal`` only j <= i."""
    b, n = keys.shape
    allowed = keys[:, None, :].expand(b, n, n).clone()
    eye = torch.eye(n, dtype=torch.bool, device=keys.device)
    allowed |= eye
    if causal:
        allowed &= torch.tril(torch.ones(n, n, dtype=torch.bool, device=keys.device))
    return allowed[:, None]


def additive(allowed: torch.Tensor) -> torch.Tensor:
    """RecBole's TransformerEncoder takes an additive mask (0 = attend, -10000 = blocked)."""
    return torch.where(allowed, 0.0, -10000.0)


class ThreadEncoder(nn.Module):
    """A SASRec-style transformer stack (post-LN, RecBole's layers); positions are added by the caller."""

    def __init__(self, d: int, n_layers: int, n_heads: int, inner: int, dropout: float, attn_dropout: float,
                 act: str = "gelu", eps: float = 1e-12):
        super().__init__()
        self.norm = nn.LayerNorm(d, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.layers = TransformerEncoder(n_layers=n_layers, n_heads=n_heads, hidden_size=d, inner_size=inner,
                                         hidden_dropout_prob=dropout, attn_dropout_prob=attn_dropout,
                                         hidden_act=act, layer_norm_eps=eps)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        return self.layers(self.dropout(self.norm(x)), additive(allowed), output_all_encoded_layers=False)[-1]


def domain_mask(item_seq: torch.Tensor, item_domain: torch.Tensor, d: int) -> torch.Tensor:
    """[B, L] bool: positions holding an item of domain ``d``."""
    return (item_seq > 0) & (item_domain[item_seq] == d)


def soft_contrastive(x: torch.Tensor, y: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Symmetric soft cross-entropy between logits XYᵀ/τ and targets softmax((XXᵀ + YYᵀ)/2 · τ).

    The targets are multiplied by τ, as in LLM4CDSR's official code (with τ = 1 it makes no
    difference). Rows are L2-normalised first (our choice: unnormalised dot products of adapter
    outputs grow without bound and the loss then dominates training).
    """
    x, y = F.normalize(x, dim=-1), F.normalize(y, dim=-1)
    logits = x @ y.T / tau
    targets = torch.softmax((x @ x.T + y @ y.T) / 2 * tau, dim=-1)
    a = -(targets * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
    b = -(targets.T * torch.log_softmax(logits.T, dim=-1)).sum(-1).mean()
    return (a + b) / 2


def pca_table(embeddings: np.ndarray, rows: np.ndarray, dim: int) -> np.ndarray:
    """PCA-``dim`` projections of ``embeddings[rows]`` (fitted on those rows), scaled to mean row norm 1."""
    x = embeddings[rows].astype(np.float64)
    x = x - x.mean(0, keepdims=True)
    k = min(dim, x.shape[0], x.shape[1])
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    proj = x @ vt[:k].T
    if k < dim:
        proj = np.pad(proj, ((0, 0), (0, dim - k)))
    norm = np.linalg.norm(proj, axis=1).mean()
    return (proj / (norm if norm > 0 else 1.0)).astype(np.float32)


def check_domains(item_domain: np.ndarray, n_items: int, model: str) -> np.ndarray:
    codes = np.asarray(item_domain, dtype=np.int64)
    if codes.shape != (n_items,):
        raise ValueError(f"{model}: item_domains has {len(codes)} rows, the dataset has {n_items} item ids "
                         "(including padding 0); align it with the dataset (recsys.recbole.ids.align_to_recbole)")
    if set(np.unique(codes[1:]).tolist()) - {0, 1}:
        raise ValueError(f"{model} needs exactly two domains coded 0/1 (padding -1); got codes "
                         f"{sorted(set(np.unique(codes[1:]).tolist()))}")
    return codes


def id_residual_rows(has_text: np.ndarray, mode: str) -> np.ndarray:
    """1.0 for items that get a trainable ID residual, else 0.0 (padding never)."""
    if mode not in ID_RESIDUAL:
        raise ValueError(f"id_residual must be one of {ID_RESIDUAL}, got {mode!r}")
    rows = {"missing": ~np.asarray(has_text, dtype=bool), "all": np.ones(len(has_text), dtype=bool),
            "none": np.zeros(len(has_text), dtype=bool)}[mode].astype(np.float32)
    rows[0] = 0.0
    return rows


def item_table(module: nn.Module, name: str, values: np.ndarray, mode: str) -> None:
    """Set ``module.<name>`` to a text-derived item table: an ``nn.Parameter`` (``trainable``) or a buffer
    (``frozen``); both are saved in the state dict under the same key."""
    if mode not in ITEM_TABLES:
        raise ValueError(f"item_table must be one of {ITEM_TABLES}, got {mode!r}")
    table = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
    if mode == "trainable":
        setattr(module, name, nn.Parameter(table))
    else:
        module.register_buffer(name, table)
