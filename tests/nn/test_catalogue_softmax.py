"""The chunked catalogue cross-entropy: the same loss and gradients as the plain computation, and
no [targets x items] tensor kept for the backward pass."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recsys.nn.catalogue_softmax import catalogue_cross_entropy


def _case(n=700, d=24, v=3001, seed=0):
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=gen, requires_grad=True)
    w = (torch.randn(v, d, generator=gen) * 0.5).requires_grad_()
    y = torch.randint(1, v, (n,), generator=gen)
    return h, w, y


def _grads(loss_fn, h, w, y):
    h.grad = w.grad = None
    loss = loss_fn(h, w, y)
    (loss * 3.0).backward()  # a non-unit upstream gradient is scaled through
    return loss.detach(), h.grad.clone(), w.grad.clone()


@pytest.mark.parametrize("chunk", [1, 64, 699, 700, 5000])
def test_same_loss_and_gradients_as_plain_cross_entropy(chunk):
    h, w, y = _case()
    plain = _grads(lambda h, w, y: F.cross_entropy(h @ w.T, y), h, w, y)
    chunked = _grads(lambda h, w, y: catalogue_cross_entropy(h, w, y, chunk=chunk), h, w, y)
    for a, b in zip(plain, chunked):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_ignored_targets_count_for_nothing():
    h, w, y = _case()
    y = y.clone()
    y[::3] = -100
    plain = _grads(lambda h, w, y: F.cross_entropy(h @ w.T, y, ignore_index=-100), h, w, y)
    chunked = _grads(lambda h, w, y: catalogue_cross_entropy(h, w, y, chunk=128), h, w, y)
    for a, b in zip(plain, chunked):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert chunked[1][::3].abs().max() == 0  # no gradient reaches an ignored target's hidden state


def _largest_saved(loss_fn, h, w, y) -> int:
    sizes = []

    def pack(t):
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_fn(h, w, y)
    return max(sizes)


def test_never_keeps_the_whole_logit_matrix():
    h, w, y = _case(n=2000, v=5000)
    n, v, d = 2000, 5000, h.shape[1]
    assert _largest_saved(lambda h, w, y: F.cross_entropy(h @ w.T, y), h, w, y) >= n * v
    assert _largest_saved(lambda h, w, y: catalogue_cross_entropy(h, w, y, chunk=256), h, w, y) <= max(n, v) * d


def test_bf16_products_stay_close_and_reduce_in_float32():
    h, w, y = _case()
    exact = catalogue_cross_entropy(h, w, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = catalogue_cross_entropy(h, w, y, chunk=256)
    assert mixed.dtype == torch.float32
    assert abs(float(mixed.detach()) - float(exact.detach())) < 0.02 * float(exact.detach())


def test_shape_errors_name_the_argument():
    h, w, y = _case()
    with pytest.raises(ValueError, match="targets"):
        catalogue_cross_entropy(h, w, y[:-1])
    with pytest.raises(ValueError, match="chunk"):
        catalogue_cross_entropy(h, w, y, chunk=0)
