import math

import pytest
import torch
from torch import nn

from utils.flow import (
    check_labels,
    data_from_velocity,
    drop_labels,
    flow_matching_loss,
    gaussian_flow_map,
    gaussian_velocity,
    interpolate,
    noise_from_velocity,
    score_from_velocity,
    velocity_from_noise,
    vp_to_flow_time,
)
from utils.flow_models import VelocityMLP
from utils.train import train_steps


def test_interpolate_runs_from_noise_at_0_to_data_at_1():
    noise, data = torch.zeros(3, 2), torch.ones(3, 2)
    x = interpolate(noise, data, torch.tensor([0.0, 0.25, 1.0]))
    assert torch.equal(x, torch.tensor([[0.0, 0.0], [0.25, 0.25], [1.0, 1.0]]))
    images = interpolate(torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 2.0), torch.tensor([0.5, 0.75]))
    assert images[0].eq(1.0).all() and images[1].eq(1.5).all()  # times broadcast over image dimensions
    with pytest.raises(ValueError, match="same shape"):
        interpolate(torch.zeros(3, 2), torch.zeros(3, 3), torch.zeros(3))
    with pytest.raises(ValueError, match=r"times \[B\] = \[3\]"):
        interpolate(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(2))


def test_the_true_velocity_recovers_data_noise_and_score_exactly():
    g = torch.Generator().manual_seed(0)
    noise, data = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    t = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9])
    x_t = interpolate(noise, data, t)
    v = data - noise  # the velocity of this very path
    assert torch.allclose(data_from_velocity(x_t, t, v), data, atol=1e-6)
    assert torch.allclose(noise_from_velocity(x_t, t, v), noise, atol=1e-6)
    assert torch.allclose(velocity_from_noise(x_t, t, noise), v, atol=1e-5)
    # the conditional score of N(t data, (1 - t)^2 I) at x_t is -(x_t - t data) / (1 - t)^2 = -noise / (1 - t)
    expected_score = -(x_t - t[:, None] * data) / (1 - t[:, None]) ** 2
    assert torch.allclose(score_from_velocity(x_t, t, v), expected_score, atol=1e-5)


def test_conversions_refuse_the_times_where_they_are_undefined():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="t = 1"):
        score_from_velocity(x, torch.tensor([0.5, 1.0]), x)
    with pytest.raises(ValueError, match="t = 0"):
        velocity_from_noise(x, torch.tensor([0.0, 0.5]), x)


def test_vp_points_map_onto_the_straight_path():
    alpha = torch.tensor([0.2, 0.6, 0.95])
    sigma = (1 - alpha**2).sqrt()
    t, scale = vp_to_flow_time(alpha)
    data, eps = torch.randn(3, 4), torch.randn(3, 4)
    x_vp = alpha[:, None] * data + sigma[:, None] * eps
    assert torch.allclose(x_vp / scale[:, None], interpolate(eps, data, t), atol=1e-6)
    assert torch.allclose(vp_to_flow_time(torch.tensor([math.sqrt(0.5)]))[0], torch.tensor([0.5]))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        vp_to_flow_time(torch.tensor([1.0]))


def test_gaussian_velocity_is_the_conditional_mean_of_the_path_velocity():
    # Monte Carlo check of E[x1 - x0 | x_t] for Gaussian data: regress x1 - x0 on x_t in one dimension
    g = torch.Generator().manual_seed(0)
    mean, std, t = torch.tensor([1.5]), torch.tensor([0.5]), 0.4
    x0, x1 = torch.randn(400_000, 1, generator=g), mean + std * torch.randn(400_000, 1, generator=g)
    x_t = (1 - t) * x0 + t * x1
    near = (x_t - 0.3).abs() < 0.01
    empirical = (x1 - x0)[near].mean()
    exact = gaussian_velocity(torch.tensor([[0.3]]), torch.tensor([t]), mean, std)
    assert abs(empirical - exact.item()) < 0.05
    # and its flow carries N(0, 1) to N(mean, std^2)
    assert torch.allclose(gaussian_flow_map(torch.tensor([[0.0], [1.0]]), mean, std), torch.tensor([[1.5], [2.0]]))


def test_flow_matching_loss_of_the_exact_gaussian_field_is_its_irreducible_floor():
    mean, std = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 1.0])

    class Exact(nn.Module):
        num_classes = 0

        def forward(self, x, t, labels=None):
            return gaussian_velocity(x, t, mean, std)

    class Zero(Exact):
        def forward(self, x, t, labels=None):
            return torch.zeros_like(x)

    g = torch.Generator().manual_seed(0)
    data = mean + std * torch.randn(20_000, 2, generator=g)
    exact = flow_matching_loss(Exact(), data, generator=torch.Generator().manual_seed(1)).item()
    zero = flow_matching_loss(Zero(), data, generator=torch.Generator().manual_seed(1)).item()
    # the zero field pays E|x1 - x0|^2 / D = (|mean|^2 + sum(std^2) + 2) / 2 = 4.125
    assert abs(zero - 4.125) < 0.1
    assert exact < 0.6 * zero


def test_flow_matching_loss_falls_when_training_a_small_network():
    torch.manual_seed(0)
    model = VelocityMLP(2, hidden=64, layers=2, embed_dim=16)
    data = torch.randn(256, 2) * 0.3 + torch.tensor([2.0, -1.0])
    g = torch.Generator().manual_seed(0)
    fixed = lambda: flow_matching_loss(model, data, generator=torch.Generator().manual_seed(5)).item()  # noqa: E731
    before = fixed()
    train_steps(model, lambda m, x: flow_matching_loss(m, x, generator=g), lambda: (data,),
                optimizer=torch.optim.Adam(model.parameters(), lr=3e-3), steps=150, progress=False)
    assert fixed() < 0.6 * before


def test_label_dropout_replaces_the_right_share_with_the_null_index():
    labels = torch.randint(0, 10, (10_000,), generator=torch.Generator().manual_seed(0))
    dropped = drop_labels(labels, 10, 0.25, generator=torch.Generator().manual_seed(1))
    null = dropped == 10
    assert 0.23 < null.float().mean() < 0.27
    assert torch.equal(dropped[~null], labels[~null])
    assert torch.equal(drop_labels(labels, 10, 0.0), labels)
    assert drop_labels(labels, 10, 1.0).eq(10).all()
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        drop_labels(labels, 10, 1.5)


def test_check_labels_says_what_is_wrong():
    check_labels(None, 3, 0)
    check_labels(torch.tensor([0, 9, 10]), 3, 10, allow_null=True)
    with pytest.raises(ValueError, match="unconditional"):
        check_labels(torch.tensor([1, 2, 3]), 3, 0)
    with pytest.raises(ValueError, match=r"int64 of shape \[3\]"):
        check_labels(torch.tensor([1.0, 2.0, 3.0]), 3, 10)
    with pytest.raises(ValueError, match=r"in 0\.\.9"):
        check_labels(torch.tensor([0, 9, 10]), 3, 10)


def test_flow_matching_loss_refuses_non_finite_data():
    with pytest.raises(ValueError, match="NaN or infinite"):
        flow_matching_loss(VelocityMLP(2, hidden=8, layers=1, embed_dim=4), torch.tensor([[0.0, float("nan")]]))


def test_nan_times_and_label_dropout_are_refused_not_passed_through():
    x = torch.randn(3, 2)
    nan_times = torch.full((3,), math.nan)
    with pytest.raises(ValueError, match=r"use t < 1 \(and no NaN\)"):
        score_from_velocity(x, nan_times, x)
    with pytest.raises(ValueError, match=r"use t > 0 \(and no NaN\)"):
        velocity_from_noise(x, nan_times, x)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        vp_to_flow_time(torch.tensor([0.5, math.nan]))
    model = VelocityMLP(2, hidden=8, layers=1, embed_dim=4, num_classes=3)
    labels = torch.zeros(3, dtype=torch.long)
    for p in (math.nan, 1.5, -0.1):  # NaN used to mean "no dropout", silently
        with pytest.raises(ValueError, match=rf"label_dropout must be in \[0, 1\], got {p}"):
            flow_matching_loss(model, x, labels, label_dropout=p)
