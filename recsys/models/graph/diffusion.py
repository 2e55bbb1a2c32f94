"""A latent diffusion denoiser for embeddings (DiffRec-style, used by DRGO).

Forward process with DiffRec's linear-variance schedule (the variance 1 - alpha_bar =
noise_scale * linspace(noise_min, noise_max): 0.002 at the last of 100 steps with the defaults;
``schedule = "linear-beta"`` makes the per-step betas linear instead, 48x noisier at the end);
one uniform timestep per sample; an MLP on [x_t ; sinusoidal time embedding]
predicts x_0; the loss is the MSE re-weighted by SNR(t-1) - SNR(t) (weight 1 at t = 0), as in
DiffRec. Because those weights span orders of magnitude, they are divided by their mean over
the schedule so that the diffusion term stays on the scale of the ranking loss (our choice;
the ordering of the weights is unchanged). With ``residual`` (default) the MLP predicts the
correction x_0 - x_t rather than x_0 itself: the same target, but the denoiser starts near the
identity instead of squeezing every embedding through a tanh layer (our choice; DiffRec's MLP
predicts x_0 directly, ``residual = False``). Denoising runs the reverse-process means from a
small step without added noise.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


SCHEDULES = ("linear-var", "linear-beta")


class LatentDiffusion(nn.Module):
    def __init__(self, dim: int, steps: int = 100, noise_scale: float = 0.1, noise_min: float = 1e-4,
                 noise_max: float = 0.02, time_dim: int = 16, hidden: int = 64, denoise_from: int = 5,
                 residual: bool = True, schedule: str = "linear-var"):
        super().__init__()
        if not 1 <= denoise_from <= steps:
            raise ValueError(f"denoise_from must be in 1..steps ({steps}), got {denoise_from}")
        self.steps, self.time_dim, self.denoise_from, self.residual = steps, time_dim, denoise_from, residual
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        if schedule == "linear-var":  # DiffRec's: the variance 1 - alpha_bar grows linearly
            variance = noise_scale * torch.linspace(noise_min, noise_max, steps, dtype=torch.float64)
            alpha_bar = 1.0 - variance
            betas = 1.0 - alpha_bar / torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        else:  # linear-beta: the per-step variance grows linearly (a far noisier end point)
            betas = noise_scale * torch.linspace(noise_min, noise_max, steps, dtype=torch.float64)
            alpha_bar = torch.cumprod(1.0 - betas, 0)
        prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        snr = alpha_bar / (1.0 - alpha_bar)
        weight = torch.cat([torch.ones(1, dtype=torch.float64), snr[:-1] - snr[1:]])
        for name, value in {
            "alpha_bar": alpha_bar, "sqrt_alpha_bar": alpha_bar.sqrt(), "sqrt_one_minus": (1 - alpha_bar).sqrt(),
            # posterior q(x_{t-1} | x_t, x_0) mean coefficients
            "coef_x0": betas * prev.sqrt() / (1 - alpha_bar),
            "coef_xt": (1 - prev) * (1 - betas).sqrt() / (1 - alpha_bar),
            "loss_weight": weight / weight.mean(),
        }.items():
            self.register_buffer(name, value.float(), persistent=False)
        self.net = nn.Sequential(nn.Linear(dim + time_dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = self.net(torch.cat([x_t, time_embedding(t, self.time_dim)], dim=-1))
        return x_t + out if self.residual else out

    def loss(self, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Re-weighted x_0-prediction loss at one uniform timestep per row of ``x0``."""
        t = torch.randint(0, self.steps, (len(x0),), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        x_t = self.sqrt_alpha_bar[t, None] * x0 + self.sqrt_one_minus[t, None] * noise
        err = (self.predict_x0(x_t, t) - x0).pow(2).mean(-1)
        return (self.loss_weight[t] * err).mean()

    def denoise(self, x: torch.Tensor, start: int | None = None) -> torch.Tensor:
        """Reverse-process means from step ``start`` (default ``denoise_from``) down to 0, from ``x`` itself, no noise."""
        for step in range((start or self.denoise_from) - 1, -1, -1):
            t = torch.full((len(x),), step, dtype=torch.long)
            x0 = self.predict_x0(x, t)
            x = x0 if step == 0 else self.coef_x0[step] * x0 + self.coef_xt[step] * x
        return x
