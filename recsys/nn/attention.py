"""Attention variants for SASRec-style transformer backbones: ``softmax | elastic_softmax | sigmoid_window``.

Any model built on RecBole's ``TransformerEncoder`` (SASRec, H2Rec, the cross-domain models ...)
takes ``attention = "elastic_softmax"`` or ``"sigmoid_window"``: ``use_attention`` swaps each
RecBole ``MultiHeadAttention`` for ``VariantAttention``, which keeps that module's own query / key
/ value / output layers (same parameters, same names, same initial values) and changes only how
scores become weights. ``softmax`` leaves RecBole's module untouched, so the plain model is the
baseline of an ablation, bit for bit.

- **Elastic-Softmax** (Lazy Attention): ``A_ij = ReLU(softmax_j(s_ij) + tau_h / n_i)`` over the keys
  query i may see, ``n_i`` = its visible *non-padding* keys (counting padding would let a padded
  position's share leak into real rows), ``tau_h = -softplus(rho_h)`` learnable per head, -1 at
  start. tau <= 0 keeps every row's sum <= 1 (a head may attend to *less* than everything, which is
  the point: weak keys are cut to exactly 0). Optional learnable distance bias ``b_h[|i-j|]`` for
  ``|i-j| <= attention_distance_window`` (0: off).
- **Sigmoid sliding window** (SWAT): ``o_i = sum_{j=i-w+1..i} sigmoid(q_i.k_j/sqrt(d) - m_h (i-j) + b) v_j``
  with rotary position embeddings on q and k and per-head slopes m_h of both signs ("balanced
  ALiBi": half the heads favour recent keys, half older ones). Each weight is independent (no
  normalisation over keys). ``b = -log(w)`` by default (Ramapuram et al., 2024: it keeps the summed
  weights near 1 at the start); ``attention_sigmoid_bias = 0`` is the bare formula.

A query that sees no key (a fully padded prefix) gets all-zero weights, never NaN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION_KINDS = ("softmax", "elastic_softmax", "sigmoid_window")
#: config keys of the attention options (read by ``use_attention``; not RecBole's)
ATTENTION_KEYS = ("attention", "attention_window", "attention_distance_window", "attention_sigmoid_bias")
DEFAULT_WINDOW = 16


def allowed_from_additive(mask: torch.Tensor) -> torch.Tensor:
    """RecBole's additive mask (0 = attend, -10000 = blocked) as booleans."""
    return mask > -1.0


def softmax_weights(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Softmax over allowed keys; a row with no allowed key is all zeros."""
    w = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    return torch.nan_to_num(w, nan=0.0) * allowed


def elastic_softmax_weights(scores: torch.Tensor, allowed: torch.Tensor, tau: torch.Tensor,
                            distance_bias: torch.Tensor | None = None) -> torch.Tensor:
    """``ReLU(softmax + tau_h / n_i)`` on allowed keys; ``tau``: [H] (<= 0), ``distance_bias``: [H, W + 1].

    ``allowed`` must already exclude padding keys, so ``n_i`` counts visible non-padding keys.
    """
    if distance_bias is not None:
        length = scores.shape[-1]
        pos = torch.arange(length, device=scores.device)
        dist = (pos[:, None] - pos[None, :]).abs()
        within = dist < distance_bias.shape[1]
        bias = distance_bias[:, dist.clamp(max=distance_bias.shape[1] - 1)] * within  # [H, L, L]
        scores = scores + bias
    p = softmax_weights(scores, allowed)
    n = allowed.sum(-1, keepdim=True).clamp(min=1).to(p.dtype)
    return F.relu(p + tau.view(1, -1, 1, 1) / n) * allowed


def balanced_alibi_slopes(n_heads: int) -> torch.Tensor:
    """ALiBi's geometric slopes 2^(-8k/h), the second half of the heads with a negative sign."""
    half = max(n_heads // 2, 1)
    base = torch.tensor([2.0 ** (-8.0 * (k + 1) / half) for k in range(half)])
    if n_heads == 1:
        return base
    slopes = torch.cat([base, -base])
    return torch.cat([slopes, base[: n_heads - len(slopes)]]) if len(slopes) < n_heads else slopes


def sigmoid_window_weights(scores: torch.Tensor, allowed: torch.Tensor, slopes: torch.Tensor, window: int,
                           bias: float = 0.0) -> torch.Tensor:
    """``sigmoid(s_ij - m_h (i - j) + bias)`` for allowed keys with ``0 <= i - j < window``; 0 elsewhere."""
    length = scores.shape[-1]
    pos = torch.arange(length, device=scores.device)
    dist = (pos[:, None] - pos[None, :]).to(scores.dtype)  # i - j
    inside = (dist >= 0) & (dist < window)
    w = torch.sigmoid(scores - slopes.view(1, -1, 1, 1).to(scores.dtype) * dist + bias)
    return w * (allowed & inside)


def rotary(x: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding over the sequence axis of ``x`` [B, H, L, d] (d even)."""
    d = x.shape[-1]
    half = d // 2
    freq = 1.0 / (10000 ** (torch.arange(half, device=x.device, dtype=x.dtype) / half))
    angle = torch.arange(x.shape[-2], device=x.device, dtype=x.dtype)[:, None] * freq[None, :]  # [L, d/2]
    cos, sin = angle.cos(), angle.sin()
    x1, x2 = x[..., :half], x[..., half: 2 * half]
    out = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return torch.cat([out, x[..., 2 * half:]], dim=-1) if d % 2 else out


class VariantAttention(nn.Module):
    """RecBole's multi-head self-attention block (projections, dropout, residual LayerNorm) with another
    weighting. Adopts the replaced module's layers under the same attribute names."""

    def __init__(self, original: nn.Module, kind: str, window: int = DEFAULT_WINDOW, distance_window: int = 0,
                 sigmoid_bias: float | None = None):
        super().__init__()
        if kind not in ATTENTION_KINDS[1:]:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {kind!r}")
        self.kind = kind
        self.num_attention_heads = original.num_attention_heads
        self.attention_head_size = original.attention_head_size
        for name in ("query", "key", "value", "dense", "LayerNorm", "attn_dropout", "out_dropout"):
            setattr(self, name, getattr(original, name))
        heads = self.num_attention_heads
        if kind == "elastic_softmax":
            self.tau_raw = nn.Parameter(torch.full((heads,), math.log(math.e - 1.0)))  # -softplus = -1
            self.distance_bias = nn.Parameter(torch.zeros(heads, distance_window + 1)) if distance_window else None
        else:
            if window < 1:
                raise ValueError(f"attention_window must be >= 1, got {window}")
            self.window = int(window)
            self.sigmoid_bias = -math.log(window) if sigmoid_bias is None else float(sigmoid_bias)
            self.register_buffer("slopes", balanced_alibi_slopes(heads), persistent=False)

    @property
    def tau(self) -> torch.Tensor:
        return -F.softplus(self.tau_raw)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # [B, L, H*d] -> [B, H, L, d]
        return x.view(*x.shape[:-1], self.num_attention_heads, self.attention_head_size).permute(0, 2, 1, 3)

    def weights(self, q: torch.Tensor, k: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        allowed = allowed_from_additive(attention_mask)
        if self.kind == "sigmoid_window":
            q, k = rotary(q), rotary(k)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.attention_head_size)
        if self.kind == "elastic_softmax":
            return elastic_softmax_weights(scores, allowed, self.tau, self.distance_bias)
        return sigmoid_window_weights(scores, allowed, self.slopes, self.window, self.sigmoid_bias)

    def forward(self, input_tensor: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        q = self._heads(self.query(input_tensor))
        k = self._heads(self.key(input_tensor))
        v = self._heads(self.value(input_tensor))
        probs = self.attn_dropout(self.weights(q, k, attention_mask))
        context = (probs @ v).permute(0, 2, 1, 3).reshape(*input_tensor.shape[:-1], -1)
        hidden = self.out_dropout(self.dense(context))
        return self.LayerNorm(hidden + input_tensor)


def use_attention(model: nn.Module, kind: str = "softmax", window: int = DEFAULT_WINDOW, distance_window: int = 0,
                  sigmoid_bias: float | None = None) -> int:
    """Swap every RecBole ``MultiHeadAttention`` inside ``model`` for ``kind``; returns how many were swapped.

    Call it right after building the model (before training or loading a checkpoint of the variant).
    """
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"attention must be one of {', '.join(ATTENTION_KINDS)}, got {kind!r}")
    from recbole.model.layers import MultiHeadAttention

    targets = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
               if isinstance(child, MultiHeadAttention)]
    if not targets:
        raise ValueError(f"{type(model).__name__} has no transformer self-attention (RecBole MultiHeadAttention) "
                         "for the attention option; it applies to SASRec-style backbones")
    if kind == "softmax":
        return len(targets)
    for parent, name, child in targets:
        setattr(parent, name, VariantAttention(child, kind, window, distance_window, sigmoid_bias))
    return len(targets)


__all__ = ["ATTENTION_KINDS", "ATTENTION_KEYS", "VariantAttention", "use_attention", "softmax_weights",
           "elastic_softmax_weights", "sigmoid_window_weights", "balanced_alibi_slopes", "rotary"]
