"""Full-catalogue cross-entropy computed over chunks of targets, never holding [targets x items].

A sequential model's softmax over the whole catalogue is ``cross_entropy(h @ W.T, y)``: for
Beauty (12,101 items) a batch of 8,192 targets holds a 99M-float logit matrix twice (logits and
their gradient), and that matrix, not the transformer, dominates training memory (and, with a
small model, its time).

``catalogue_cross_entropy`` gives the same loss and gradients (to float32 rounding) by walking the
targets in chunks. The loss is a scalar that training always differentiates, so each chunk's
gradient is computed in the forward pass while its logits are in cache (softmax minus one-hot,
then two matrix products), and the backward pass only scales the stored gradients by the incoming
scalar: three matrix products per chunk, as the plain computation, and one [chunk x items] block
alive at a time. It saves memory, not time (measured: the same seconds per step as the plain
computation, docs/performance.md). Without ``requires_grad`` (evaluation) no gradient is formed.

``compute_dtype=torch.bfloat16`` runs the three products in bfloat16 (AVX512-BF16 CPUs, tensor-core
GPUs) while the log-sum-exp, the softmax and every accumulation stay in float32.
"""

from __future__ import annotations

import torch

#: targets per chunk: [4096 x 12,101] float32 logits are 198 MB, a size that still streams well.
DEFAULT_CHUNK = 4096


def _products(h: torch.Tensor, weight: torch.Tensor, dtype: torch.dtype | None):
    if dtype is None or dtype == h.dtype:
        return h, weight
    return h.to(dtype), weight.to(dtype)


class _CatalogueCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, targets, chunk, dtype, ignore_index):
        keep = targets != ignore_index
        n = int(keep.sum())
        need_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        hc_all, wc = _products(h, weight, dtype)
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        grad_h = torch.zeros(h.shape, dtype=torch.float32, device=h.device) if need_grad else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=h.device) if need_grad else None
        for start in range(0, len(h), chunk):
            rows = slice(start, start + chunk)
            y, k = targets[rows], keep[rows]
            logits = (hc_all[rows] @ wc.T).float()
            lse = torch.logsumexp(logits, -1)
            safe_y = torch.where(k, y, torch.zeros_like(y))
            picked = logits.gather(1, safe_y[:, None]).squeeze(1)
            total += ((lse - picked) * k).sum()
            if need_grad:
                probs = torch.exp(logits.sub_(lse[:, None]))  # softmax, in place of the logits
                probs[torch.arange(len(y), device=y.device), safe_y] -= 1.0
                probs *= k[:, None].to(probs.dtype)  # ignored targets add nothing
                p = probs.to(wc.dtype)
                grad_h[rows] = (p @ wc).float()
                grad_w += (p.T @ hc_all[rows]).float()
        denom = max(n, 1)
        if need_grad:
            ctx.save_for_backward(grad_h / denom, grad_w / denom)
            ctx.dtypes = (h.dtype, weight.dtype)
        return total / denom

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        h_dtype, w_dtype = ctx.dtypes
        gh = (grad_h * grad_out).to(h_dtype) if ctx.needs_input_grad[0] else None
        gw = (grad_w * grad_out).to(w_dtype) if ctx.needs_input_grad[1] else None
        return gh, gw, None, None, None, None


def catalogue_cross_entropy(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, *,
                            chunk: int = DEFAULT_CHUNK, compute_dtype: torch.dtype | None = None,
                            ignore_index: int = -100) -> torch.Tensor:
    """Mean of ``cross_entropy(h @ weight.T, targets)`` over the targets that are not ``ignore_index``.

    ``h`` is [targets x d], ``weight`` [items x d] (the catalogue's output table, row 0 padding as in
    RecBole), ``targets`` item ids. ``compute_dtype``: dtype of the matrix products (None: h's own).
    """
    if h.dim() != 2 or weight.dim() != 2 or h.shape[1] != weight.shape[1]:
        raise ValueError(f"catalogue_cross_entropy: h {tuple(h.shape)} and weight {tuple(weight.shape)} "
                         "must be [targets x d] and [items x d]")
    if targets.shape != (h.shape[0],):
        raise ValueError(f"catalogue_cross_entropy: targets {tuple(targets.shape)} must be [{h.shape[0]}]")
    if chunk < 1:
        raise ValueError(f"catalogue_cross_entropy: chunk must be >= 1, got {chunk}")
    device = h.device.type
    if compute_dtype is None and torch.is_autocast_enabled(device):  # follow the autocast region we are in
        compute_dtype = torch.get_autocast_dtype(device)
    with torch.autocast(device, enabled=False):  # dtypes are chosen explicitly inside
        return _CatalogueCrossEntropy.apply(h, weight, targets, int(chunk), compute_dtype, ignore_index)
