"""DP-SGD's parts: per-example gradients (checked against one backward pass per example), clipping and noise, and
the privacy accountant's epsilon."""

import math

import pytest
import torch
from torch import nn

from utils.privacy import clip_and_noise, epsilon_spent, per_example_gradients


def mse_loss(model, x, y):
    return ((model(x) - y) ** 2).mean()


def small_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def test_per_example_gradients_equal_one_backward_pass_per_example():
    model = small_mlp()
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    grads = per_example_gradients(model, mse_loss, x, y)
    assert set(grads) == {name for name, _ in model.named_parameters()}
    for i in range(5):
        model.zero_grad()
        mse_loss(model, x[i : i + 1], y[i : i + 1]).backward()
        for name, p in model.named_parameters():
            assert grads[name].shape == (5, *p.shape)
            assert torch.allclose(grads[name][i], p.grad, atol=1e-6), (name, i)
    assert all(p.grad is not None for p in model.parameters())  # our own loop's; per_example_gradients set none
    frozen = small_mlp()
    frozen[0].weight.requires_grad_(False)
    assert "0.weight" not in per_example_gradients(frozen, mse_loss, x, y)


def test_per_example_gradients_draw_different_noise_per_example_unless_told():
    def noisy_loss(model, x, y):  # like a VAE's reparameterised sample
        return ((model(x) + torch.randn(1, 2) - y) ** 2).mean()

    model = small_mlp()
    x, y = torch.randn(1, 3).expand(4, 3), torch.zeros(4, 2)  # four copies of one example
    first = per_example_gradients(model, noisy_loss, x, y)["2.bias"]
    assert torch.isfinite(first).all() and not torch.allclose(first[0], first[1])
    same = per_example_gradients(model, noisy_loss, x, y, same_randomness=True)
    assert all(torch.allclose(g[0], g[1], atol=1e-6) for g in same.values())


def test_clipping_bounds_each_examples_norm_and_noise_zero_gives_the_clipped_mean():
    grads = {"a": torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]]), "b": torch.tensor([[0.0], [0.0], [2.0]])}
    # example norms 5, 0.5, 2: clipped to norm 1 -> (0.6, 0.8 | 0), (0.3, 0.4 | 0), (0, 0 | 1)
    out = clip_and_noise(grads, max_norm=1.0, noise_multiplier=0.0)
    assert torch.allclose(out["a"], torch.tensor([0.9, 1.2]) / 3) and torch.allclose(out["b"], torch.tensor([1.0]) / 3)
    unclipped = clip_and_noise(grads, max_norm=10.0, noise_multiplier=0.0)
    assert torch.allclose(unclipped["a"], grads["a"].mean(0)) and torch.allclose(unclipped["b"], grads["b"].mean(0))


def test_the_noise_has_standard_deviation_sigma_c_over_b_and_is_reproducible():
    grads = {"w": torch.zeros(4, 20_000)}
    out = clip_and_noise(grads, max_norm=2.0, noise_multiplier=1.5, generator=torch.Generator().manual_seed(0))
    assert out["w"].mean().abs() < 0.02 and abs(out["w"].std().item() - 1.5 * 2.0 / 4) < 0.02
    again = clip_and_noise(grads, max_norm=2.0, noise_multiplier=1.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out["w"], again["w"])


def test_epsilon_grows_with_steps_and_sampling_and_shrinks_with_noise():
    base = epsilon_spent(1.0, 0.01, 1000)
    assert 0 < base < math.inf
    assert epsilon_spent(1.0, 0.01, 2000) > base > epsilon_spent(1.0, 0.01, 500)
    assert epsilon_spent(2.0, 0.01, 1000) < base < epsilon_spent(0.7, 0.01, 1000)
    assert epsilon_spent(1.0, 0.02, 1000) > base
    assert epsilon_spent(1.0, 0.01, 1000, delta=1e-3) < base
    assert epsilon_spent(1.0, 0.01, 0) == 0.0 and epsilon_spent(0.0, 0.01, 10) == math.inf


def test_bad_arguments_are_refused():
    model, x, y = small_mlp(), torch.randn(3, 3), torch.randn(3, 2)
    with pytest.raises(ValueError, match="differ in length"):
        per_example_gradients(model, mse_loss, x, y[:2])
    with pytest.raises(ValueError, match="batched tensor"):
        per_example_gradients(model, mse_loss)
    with pytest.raises(ValueError, match="scalar"):
        per_example_gradients(model, lambda m, a, b: (m(a) - b) ** 2, x, y)
    grads = {"w": torch.ones(2, 3)}
    for kwargs in ({"max_norm": 0.0, "noise_multiplier": 1.0}, {"max_norm": 1.0, "noise_multiplier": -1.0},
                   {"max_norm": float("inf"), "noise_multiplier": 1.0}, {"max_norm": 1.0, "noise_multiplier": float("nan")}):
        with pytest.raises(ValueError):
            clip_and_noise(grads, **kwargs)
    with pytest.raises(ValueError, match="batch size"):
        clip_and_noise({"a": torch.ones(2, 3), "b": torch.ones(3, 1)}, 1.0, 1.0)
    with pytest.raises(ValueError, match="NaN"):
        clip_and_noise({"a": torch.tensor([[float("nan")]])}, 1.0, 1.0)
    with pytest.raises(ValueError):
        clip_and_noise({}, 1.0, 1.0)
    for args in ((1.0, 0.0, 10), (1.0, 1.5, 10), (-1.0, 0.1, 10), (1.0, 0.1, -1), (1.0, 0.1, 2.5), (1.0, 0.1, True)):
        with pytest.raises(ValueError):
            epsilon_spent(*args)
    with pytest.raises(ValueError):
        epsilon_spent(1.0, 0.1, 10, delta=0.0)
