import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import sdpa_backward_flop_count

from utils.flops import (
    attainable_flops,
    count_flops,
    linear_flops,
    matmul_parameters,
    measure_memory_bandwidth,
    measure_peak_flops,
    transformer_flops_per_token,
)
from utils.gpt import GPT, GPTConfig, lm_loss


def test_linear_flops_by_hand():
    assert linear_flops(3, 4, 5) == 2 * 3 * 4 * 5 == 120
    assert linear_flops(1, 1, 1) == 2


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)])
def test_linear_flops_matches_the_counter_on_a_linear_with_bias(shape):
    torch.manual_seed(0)
    layer = nn.Linear(4, 5, bias=True)
    x = torch.randn(shape)
    rows = math.prod(shape[:-1])
    assert count_flops(lambda: layer(x)) == linear_flops(rows, 4, 5)


@pytest.mark.parametrize(
    "args, error, message",
    [
        ((0, 4, 5), ValueError, "rows must be at least 1"),
        ((3, -1, 5), ValueError, "in_features must be at least 1"),
        ((3, 4, True), TypeError, "out_features must be an integer"),
        ((3.0, 4, 5), TypeError, "rows must be an integer"),
    ],
)
def test_linear_flops_rejects_bad_sizes(args, error, message):
    with pytest.raises(error, match=message):
        linear_flops(*args)


def test_matmul_parameters_counts_only_linear_weights():
    model = nn.Sequential(nn.Embedding(10, 3), nn.LayerNorm(3), nn.Linear(3, 4))
    assert sum(p.numel() for p in model.parameters()) == 30 + 6 + 12 + 4
    assert matmul_parameters(model) == 12


def test_matmul_parameters_finds_nested_linears():
    model = nn.Sequential(nn.Linear(2, 3, bias=False), nn.Sequential(nn.ReLU(), nn.Linear(3, 5)))
    assert matmul_parameters(model) == 6 + 15


def test_matmul_parameters_of_the_course_gpt_by_hand():
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16))
    per_layer = 16 * 48 + 16 * 16 + 16 * 64 + 64 * 16  # qkv, attention proj, MLP fc, MLP proj
    assert matmul_parameters(model) == 2 * per_layer + 16 * 11  # plus the lm_head


def test_matmul_parameters_rejects_a_non_module():
    with pytest.raises(TypeError, match="expected an nn.Module, got Tensor"):
        matmul_parameters(torch.zeros(3, 4))


@pytest.mark.parametrize("m, k, n", [(3, 5, 7), (1, 1, 1), (16, 2, 9)])
def test_count_flops_of_a_matrix_product(m, k, n):
    a, b = torch.randn(m, k), torch.randn(k, n)
    assert count_flops(lambda: torch.mm(a, b)) == 2 * m * k * n


def test_count_flops_ignores_elementwise_operations():
    x = torch.randn(100, 100)
    assert count_flops(lambda: torch.exp(x).add(1).relu()) == 0


def test_count_flops_rejects_a_non_callable():
    with pytest.raises(TypeError, match="fn must be callable, got int"):
        count_flops(5)


@pytest.mark.parametrize("is_causal", [False, True])
def test_count_flops_counts_attention_on_the_cpu(is_causal):
    B, H, T, D = 2, 3, 5, 4
    q, k, v = (torch.randn(B, H, T, D) for _ in range(3))
    # scores q k^T and the weighted sum over v: two products of 2 B H T T D each (causal or not: the full matrix)
    assert count_flops(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)) == 4 * B * H * T * T * D


def test_count_flops_counts_attention_with_fewer_queries_than_keys():
    B, H, Tq, Tk, D = 1, 2, 3, 7, 4
    q, k, v = torch.randn(B, H, Tq, D), torch.randn(B, H, Tk, D), torch.randn(B, H, Tk, D)
    assert count_flops(lambda: F.scaled_dot_product_attention(q, k, v)) == 4 * B * H * Tq * Tk * D


def test_count_flops_counts_the_attention_backward_on_the_cpu():
    B, H, T, D = 2, 3, 5, 4
    q, k, v = (torch.randn(B, H, T, D, requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v)
    grad = torch.ones_like(out)
    backward = count_flops(lambda: out.backward(grad))
    assert backward == sdpa_backward_flop_count(grad.shape, q.shape, k.shape, v.shape)
    assert backward == 10 * B * H * T * T * D  # 2.5 x the forward: it recomputes the scores
    assert q.grad is not None and k.grad is not None and v.grad is not None


def test_transformer_flops_per_token_by_hand():
    forward = 2 * 100 + 4 * 2 * 8 * 16
    assert transformer_flops_per_token(100, 2, 8, 16, training=False) == forward == 1224
    assert transformer_flops_per_token(100, 2, 8, 16) == 3 * forward == 3672
    assert transformer_flops_per_token(100, 2, 8, 16, training=True) == 6 * 100 + 12 * 2 * 8 * 16


@pytest.mark.parametrize(
    "args, error, message",
    [
        ((0, 2, 8, 16), ValueError, "matmul_params must be at least 1"),
        ((100, -2, 8, 16), ValueError, "n_layer must be at least 1"),
        ((100, 2, 8.0, 16), TypeError, "n_embd must be an integer"),
        ((100, 2, 8, False), TypeError, "context must be an integer"),
    ],
)
def test_transformer_flops_per_token_rejects_bad_sizes(args, error, message):
    with pytest.raises(error, match=message):
        transformer_flops_per_token(*args)


def test_count_flops_of_a_gpt_training_step_per_token():
    config = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)
    torch.manual_seed(0)
    model = GPT(config)
    B, T, L, C = 2, config.block_size, config.n_layer, config.n_embd
    idx = torch.randint(0, config.vocab_size, (B, T))
    flops = count_flops(lambda: lm_loss(model, idx, idx).backward())
    N = matmul_parameters(model)
    # 6N for the weights; attention: 4 L C T forward plus 10 L C T backward (the backward recomputes the scores)
    assert flops == B * T * (6 * N + 14 * L * C * T)
    assert flops / (B * T) == transformer_flops_per_token(N, L, C, T) + 2 * L * C * T
    assert all(p.grad is not None for p in model.parameters())


def test_peak_and_bandwidth_use_the_fastest_repeat(monkeypatch):
    import utils.flops as flops
    from utils.timing import Timing

    monkeypatch.setattr(flops, "time_call", lambda *args, **kwargs: Timing((2.0, 0.5, 4.0)))
    assert measure_peak_flops("cpu", size=8, repeats=3) == 2 * 8**3 / 0.5  # not the median 2.0
    assert measure_memory_bandwidth("cpu", megabytes=1, repeats=3) == 2 * 2**20 / 0.5


def test_measure_peak_flops_is_positive_and_finite():
    peak = measure_peak_flops("cpu", size=64, repeats=2)
    assert isinstance(peak, float)
    assert 0 < peak < math.inf


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"size": 0}, ValueError, "size must be at least 1"),
        ({"size": 64, "repeats": 0}, ValueError, "repeats must be at least 1"),
        ({"size": True}, TypeError, "size must be an integer"),
    ],
)
def test_measure_peak_flops_rejects_bad_sizes(kwargs, error, message):
    with pytest.raises(error, match=message):
        measure_peak_flops("cpu", **kwargs)


def test_measure_memory_bandwidth_is_positive_and_finite():
    bandwidth = measure_memory_bandwidth("cpu", megabytes=1, repeats=2)
    assert isinstance(bandwidth, float)
    assert 0 < bandwidth < math.inf


def test_measure_memory_bandwidth_rejects_zero_megabytes():
    with pytest.raises(ValueError, match="megabytes must be at least 1"):
        measure_memory_bandwidth("cpu", megabytes=0)


@pytest.mark.parametrize("intensity, expected", [(0.0, 0.0), (2.0, 20.0), (10.0, 100.0), (50.0, 100.0), (3, 30.0)])
def test_attainable_flops_is_the_roofline_by_hand(intensity, expected):
    # peak 100 FLOP/s, bandwidth 10 B/s: the ridge point is at 10 FLOPs per byte
    assert attainable_flops(intensity, peak_flops=100.0, bandwidth=10.0) == expected


def test_attainable_flops_of_a_tensor_of_intensities():
    result = attainable_flops(torch.tensor([0.0, 2.0, 10.0, 50.0]), peak_flops=100.0, bandwidth=10.0)
    assert isinstance(result, torch.Tensor)
    assert result.tolist() == [0.0, 20.0, 100.0, 100.0]


@pytest.mark.parametrize(
    "intensity", [-1.0, math.nan, math.inf, torch.tensor([1.0, -1.0]), torch.tensor([1.0, math.nan])]
)
def test_attainable_flops_rejects_negative_or_non_finite_intensity(intensity):
    with pytest.raises(ValueError, match="intensity must be finite and >= 0"):
        attainable_flops(intensity, peak_flops=100.0, bandwidth=10.0)


@pytest.mark.parametrize("peak, bandwidth", [(0.0, 10.0), (-1.0, 10.0), (100.0, 0.0), (100.0, -5.0), (math.nan, 10.0)])
def test_attainable_flops_rejects_non_positive_peak_or_bandwidth(peak, bandwidth):
    with pytest.raises(ValueError, match="must be positive"):
        attainable_flops(1.0, peak_flops=peak, bandwidth=bandwidth)
