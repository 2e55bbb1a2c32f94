"""Blocks shared by the CTR and multi-scenario models: MLPs, experts and gates, per-scenario selection.

Everything here is batch-independent in evaluation mode: BatchNorm uses its running
statistics, and nothing mixes samples, so a sample's prediction is the same alone or in a batch.
"""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """Linear -> BatchNorm1d -> ReLU -> Dropout per hidden layer (Scenario-Wise Rec's block); optional 1-unit head."""

    def __init__(self, in_dim: int, dims: list[int], dropout: float = 0.0, output: bool = False,
                 batch_norm: bool = True):
        super().__init__()
        layers, d = [], in_dim
        for h in dims:
            layers += [nn.Linear(d, h)] + ([nn.BatchNorm1d(h)] if batch_norm else []) + [nn.ReLU(), nn.Dropout(dropout)]
            d = h
        if output:
            layers.append(nn.Linear(d, 1))
            d = 1
        self.net = nn.Sequential(*layers)
        self.out_dim = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Experts(nn.Module):
    """``n`` MLP experts over the same input; output ``[B, n, out_dim]``."""

    def __init__(self, n: int, in_dim: int, dims: list[int], dropout: float = 0.0, layer_norm: bool = False):
        super().__init__()
        self.experts = nn.ModuleList(MLP(in_dim, dims, dropout, batch_norm=not layer_norm) for _ in range(n))
        self.norms = nn.ModuleList(nn.LayerNorm(dims[-1]) for _ in range(n)) if layer_norm else None
        self.out_dim = dims[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [e(x) for e in self.experts]
        if self.norms is not None:
            outs = [n(o) for n, o in zip(self.norms, outs)]
        return torch.stack(outs, dim=1)


def mix(experts: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Gate-weighted sum: ``[B, n, d]`` x ``[B, n]`` -> ``[B, d]``."""
    return (experts * weights.unsqueeze(-1)).sum(1)


def select(per_scenario: torch.Tensor, scenario: torch.Tensor) -> torch.Tensor:
    """Each sample's own scenario branch: ``[B, S, ...]`` indexed by ``scenario [B]`` -> ``[B, ...]``."""
    return per_scenario[torch.arange(len(scenario), device=scenario.device), scenario]


class ScaleGate(nn.Module):
    """Linear -> ReLU -> Linear -> 2 * sigmoid: a multiplicative gate centred on 1 (EPNet / PPNet)."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * torch.sigmoid(self.net(x))


class ScenarioNorm(nn.Module):
    """Partitioned normalisation (STAR): per-scenario running statistics, shared x scenario affine.

    Training normalises each scenario's samples with their batch statistics and updates that
    scenario's running mean and variance; evaluation uses the running statistics only (the
    official code kept batch statistics at evaluation, so a prediction depended on its batch).
    """

    def __init__(self, dim: int, n_scenarios: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))
        self.beta = nn.Parameter(torch.zeros(dim))
        self.s_gamma = nn.Parameter(torch.ones(n_scenarios, dim))
        self.s_beta = nn.Parameter(torch.zeros(n_scenarios, dim))
        self.register_buffer("running_mean", torch.zeros(n_scenarios, dim))
        self.register_buffer("running_var", torch.ones(n_scenarios, dim))
        self.momentum, self.eps = momentum, eps

    def forward(self, x: torch.Tensor, scenario: torch.Tensor) -> torch.Tensor:
        mean, var = self.running_mean[scenario], self.running_var[scenario]
        if self.training:
            mean, var = mean.clone(), var.clone()
            for s in torch.unique(scenario).tolist():
                m = scenario == s
                if int(m.sum()) < 2:
                    continue
                bm, bv = x[m].mean(0), x[m].var(0, unbiased=False)
                mean[m], var[m] = bm, bv
                with torch.no_grad():
                    self.running_mean[s].lerp_(bm.detach(), self.momentum)
                    self.running_var[s].lerp_(x[m].detach().var(0, unbiased=True), self.momentum)
        y = (x - mean) / torch.sqrt(var + self.eps)
        return y * (self.gamma * self.s_gamma[scenario]) + (self.beta + self.s_beta[scenario])
