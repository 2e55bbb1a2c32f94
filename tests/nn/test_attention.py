"""Attention variants: hand-computed weights, padding, and the swap into SASRec-style backbones."""

from __future__ import annotations

import math

import pytest
import torch

from recsys.nn.attention import (
    VariantAttention,
    balanced_alibi_slopes,
    elastic_softmax_weights,
    sigmoid_window_weights,
    softmax_weights,
    use_attention,
)

T = torch.tensor


def test_softmax_by_hand_and_a_row_with_no_key_is_zero():
    scores = T([[[[0.0, math.log(3.0)], [1.0, 2.0]]]])
    allowed = T([[[[True, True], [False, False]]]])
    w = softmax_weights(scores, allowed)
    assert torch.allclose(w[0, 0, 0], T([0.25, 0.75]))
    assert torch.equal(w[0, 0, 1], T([0.0, 0.0])) and not torch.isnan(w).any()


def test_elastic_softmax_by_hand_counts_only_visible_non_padding_keys():
    # keys: [padding, a, b]; the padding key is blocked, so n = 2 (not 3)
    scores = T([[[[5.0, 0.0, math.log(3.0)]]]])
    allowed = T([[[[False, True, True]]]])
    w = elastic_softmax_weights(scores, allowed, tau=T([-1.0]))
    # softmax over a, b = [0.25, 0.75]; + tau / n = -0.5; ReLU -> [0, 0.25]
    assert torch.allclose(w[0, 0, 0], T([0.0, 0.0, 0.25]))
    counted_padding = torch.relu(T([0.0, 0.25, 0.75]) - 1 / 3)  # what counting the padding key would give
    assert not torch.allclose(w[0, 0, 0], counted_padding)


def test_elastic_softmax_rows_sum_to_at_most_one_and_a_padded_prefix_stays_zero():
    gen = torch.Generator().manual_seed(0)
    length, heads = 6, 3
    scores = torch.randn(4, heads, length, length, generator=gen) * 3
    real = T([[0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]]).bool()  # left-padded
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool))
    allowed = (real[:, None, None, :] & causal)  # [B, 1, L, L]
    for tau in (T([-1.0, -0.1, -5.0]), T([0.0, 0.0, 0.0])):
        bias = torch.randn(heads, 4, generator=gen)
        for b in (None, bias):
            w = elastic_softmax_weights(scores, allowed, tau, b)
            assert not torch.isnan(w).any() and (w >= 0).all()
            assert (w.sum(-1) <= 1 + 1e-6).all()
            assert torch.equal(w[0, :, :3], torch.zeros(heads, 3, length))  # padded prefix: no key, all zero
            assert torch.equal(w[3], torch.zeros(heads, length, length))  # a fully padded sequence
            assert (w * ~allowed).abs().sum() == 0  # nothing on blocked keys


def test_sigmoid_window_by_hand():
    m = 0.5
    scores = torch.zeros(1, 1, 3, 3)
    allowed = torch.tril(torch.ones(3, 3, dtype=torch.bool))[None, None]
    w = sigmoid_window_weights(scores, allowed, slopes=T([m]), window=2, bias=0.0)
    s = torch.sigmoid
    expected = T([[0.5, 0, 0], [s(T(-m)), 0.5, 0], [0, s(T(-m)), 0.5]])  # key 0 is outside query 2's window
    assert torch.allclose(w[0, 0], expected)
    empty = sigmoid_window_weights(scores, torch.zeros_like(allowed), T([m]), 2)
    assert torch.equal(empty, torch.zeros_like(empty))


def test_balanced_alibi_slopes_have_both_signs():
    s = balanced_alibi_slopes(4)
    assert torch.allclose(s, T([2 ** -4, 2 ** -8, -(2 ** -4), -(2 ** -8)]))
    assert balanced_alibi_slopes(1).item() > 0 and len(balanced_alibi_slopes(3)) == 3


def _sasrec(ml100k, seed=0):
    from recsys.data.tensors import DatasetTensors
    from recsys.models.registry import get_model_spec
    from recsys.recbole.dataset_view import TrainDatasetView
    from recsys.train.config import recbole_model_config

    spec = get_model_spec("SASRec")
    torch.manual_seed(seed)
    cls, config = recbole_model_config(spec, ml100k, {"hidden_size": 32, "inner_size": 64, "n_layers": 2,
                                                      "n_heads": 2, "hidden_dropout_prob": 0.0,
                                                      "attn_dropout_prob": 0.0}, seed)
    torch.manual_seed(seed)
    return cls(config, TrainDatasetView(DatasetTensors(ml100k), "SASRec"))


@pytest.mark.parametrize("kind", ["elastic_softmax", "sigmoid_window"])
def test_the_swap_keeps_the_backbones_weights_and_changes_only_the_weighting(ml100k, kind):
    plain, variant = _sasrec(ml100k), _sasrec(ml100k)
    assert use_attention(variant, kind, distance_window=4 if kind == "elastic_softmax" else 0) == 2
    p, v = plain.state_dict(), variant.state_dict()
    assert set(p) <= set(v)  # same names: a plain checkpoint's weights load into the variant
    assert all(torch.equal(p[k], v[k]) for k in p)
    extra = set(v) - set(p)
    assert extra == ({f"trm_encoder.layer.{i}.multi_head_attention.{n}" for i in (0, 1)
                      for n in ("tau_raw", "distance_bias")} if kind == "elastic_softmax" else set())
    assert sum(isinstance(m, VariantAttention) for m in variant.modules()) == 2
    seq = torch.tensor([[5, 9, 2, 0, 0], [7, 0, 0, 0, 0]])
    lengths = torch.tensor([3, 1])
    plain.eval(), variant.eval()
    out_p, out_v = plain.forward(seq, lengths), variant.forward(seq, lengths)
    assert out_v.shape == out_p.shape and torch.isfinite(out_v).all() and not torch.allclose(out_p, out_v)
    if kind == "elastic_softmax":
        layer = variant.trm_encoder.layer[0].multi_head_attention
        assert torch.allclose(layer.tau, torch.full((2,), -1.0))  # the paper's initial value


def test_softmax_leaves_the_model_as_it_was(ml100k):
    plain, same = _sasrec(ml100k), _sasrec(ml100k)
    use_attention(same, "softmax")
    assert not any(isinstance(m, VariantAttention) for m in same.modules())
    seq, lengths = torch.tensor([[5, 9, 2, 0]]), torch.tensor([3])
    plain.eval(), same.eval()
    assert torch.equal(plain.forward(seq, lengths), same.forward(seq, lengths))


def test_models_without_transformer_attention_refuse_the_option(ml100k):
    from recsys.train.config import ConfigError
    from recsys.train.run import train_run

    with pytest.raises(ConfigError, match="GRU4Rec.*no transformer self-attention"):
        train_run("GRU4Rec", ml100k, {"attention": "elastic_softmax", "epochs": 1})
    with pytest.raises(ConfigError, match="attention = 'sparsemax': expected one of softmax"):
        train_run("SASRec", ml100k, {"attention": "sparsemax", "epochs": 1})


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["elastic_softmax", "sigmoid_window"])
def test_sasrec_learns_with_each_variant(ml100k, kind):
    from recsys.train.run import train_run

    cfg = {"epochs": 3, "hidden_size": 32, "inner_size": 64, "n_layers": 1, "n_heads": 2, "attention": kind,
           "progress": False}
    result = train_run("SASRec", ml100k, cfg, seed=1)
    pop = train_run("MostPop", ml100k, {"progress": False}, seed=1)
    assert result.status == "ok", result.error
    assert result.fit["losses"][-1] < result.fit["losses"][0]
    assert result.metric("ndcg@10") > pop.metric("ndcg@10")
