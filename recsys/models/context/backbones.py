"""Deep CTR backbones on field embeddings, for GPRec to wrap: MLP, Wide&Deep, IPNN, DeepFM, DCN.

Each maps ``(field embeddings [B, F, d], first-order term [B, 1])`` to a logit ``[B, 1]``. They are
ours (not RecBole's classes) so that GPRec and its plain backbone share one embedding table and
one code path, and "with vs without GPRec" differs by GPRec alone.
"""

from __future__ import annotations

import torch
from torch import nn

from recsys.nn.ctr import MLP

BACKBONES = ("mlp", "widedeep", "ipnn", "deepfm", "dcn")


class Backbone(nn.Module):
    def __init__(self, kind: str, n_fields: int, d: int, dims: list[int], dropout: float, cross_layers: int = 2):
        super().__init__()
        if kind not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {kind!r}")
        self.kind = kind
        flat = n_fields * d
        self.pairs = torch.triu_indices(n_fields, n_fields, offset=1)
        in_dim = flat + (self.pairs.shape[1] if kind == "ipnn" else 0)
        self.deep = MLP(in_dim, dims, dropout, output=kind != "dcn")
        if kind == "dcn":
            self.cross_w = nn.ParameterList(nn.Parameter(torch.randn(flat) * flat ** -0.5) for _ in range(cross_layers))
            self.cross_b = nn.ParameterList(nn.Parameter(torch.zeros(flat)) for _ in range(cross_layers))
            self.out = nn.Linear(flat + self.deep.out_dim, 1)

    def forward(self, emb: torch.Tensor, first_order: torch.Tensor) -> torch.Tensor:
        x = emb.flatten(1)
        if self.kind == "mlp":
            return self.deep(x)
        if self.kind == "widedeep":
            return first_order + self.deep(x)
        if self.kind == "ipnn":
            inner = (emb[:, self.pairs[0]] * emb[:, self.pairs[1]]).sum(-1)
            return self.deep(torch.cat([x, inner], -1))
        if self.kind == "deepfm":
            fm = 0.5 * (emb.sum(1).pow(2) - emb.pow(2).sum(1)).sum(-1, keepdim=True)
            return first_order + fm + self.deep(x)
        c = x
        for w, b in zip(self.cross_w, self.cross_b):
            c = x * (c @ w).unsqueeze(-1) + b + c
        return self.out(torch.cat([c, self.deep(x)], -1))
