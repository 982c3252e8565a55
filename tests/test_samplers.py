import math

import pytest
import torch
from torch import nn

from utils.flow import gaussian_flow_map, gaussian_velocity
from utils.samplers import (
    evaluations_per_sample,
    guided_velocity,
    heun_step,
    euler_step,
    solve,
    time_grid,
)

MEAN, STD = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 2.0])


def exact_field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return gaussian_velocity(x, t, MEAN, STD)


def solver_error(method: str, steps: int, grid: str = "uniform") -> float:
    x0 = torch.randn(500, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = gaussian_flow_map(x0, MEAN.double(), STD.double())
    return (solve(exact_field, x0, steps, method, grid) - exact).abs().max().item()


def test_time_grids_run_from_noise_to_data():
    assert torch.allclose(time_grid(4), torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    cosine = time_grid(4, "cosine")
    # tau = 1, 3/4, 1/2, 1/4, 0 -> t = cos / (cos + sin): 0, 1 - 1/sqrt(2), 1/2, 1/sqrt(2), 1
    assert torch.allclose(cosine, torch.tensor([0.0, 1 - 1 / math.sqrt(2), 0.5, 1 / math.sqrt(2), 1.0]), atol=1e-6)
    with pytest.raises(ValueError, match="unknown time grid 'karras'"):
        time_grid(4, "karras")
    with pytest.raises(ValueError, match="at least 1"):
        time_grid(0)


def test_euler_and_heun_steps_by_hand():
    velocity = lambda x, t: x * t[:, None]  # noqa: E731  dx/dt = t x
    x = torch.tensor([[2.0]])
    assert torch.allclose(euler_step(velocity, x, 0.5, 1.0), torch.tensor([[2.5]]))  # 2 + 0.5 * 0.5 * 2
    # Heun: slope 1 at t = 0.5, guess 2.5, slope 2.5 at t = 1, x + 0.5 * (1 + 2.5) / 2
    assert torch.allclose(heun_step(velocity, x, 0.5, 1.0), torch.tensor([[2.875]]))


def test_samplers_converge_to_the_exact_flow_at_their_order():
    euler = [solver_error("euler", n) for n in (16, 32, 64)]
    heun = [solver_error("heun", n) for n in (16, 32, 64)]
    assert all(1.8 < a / b < 2.2 for a, b in zip(euler, euler[1:])), euler  # first order: halve the error
    assert all(3.5 < a / b < 4.5 for a, b in zip(heun, heun[1:])), heun  # second order: quarter it
    assert heun[0] < euler[-1] / 10  # 16 Heun steps (32 evaluations) beat 64 Euler steps tenfold


def test_ddim_is_euler_on_the_straight_path_on_any_grid():
    x0 = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    for grid in ("uniform", "cosine"):
        assert torch.allclose(solve(exact_field, x0, 10, "ddim", grid), solve(exact_field, x0, 10, "euler", grid),
                              atol=1e-5)
    # what DDIM brings is its grid: the same ten steps land elsewhere on the cosine grid
    assert (solve(exact_field, x0, 10, "ddim", "cosine") - solve(exact_field, x0, 10, "ddim")).abs().max() > 0.01


def test_solve_returns_the_trajectory_and_refuses_bad_settings():
    x0 = torch.randn(3, 2)
    path = solve(exact_field, x0, 5, trajectory=True)
    assert path.shape == (6, 3, 2) and torch.equal(path[0], x0)
    assert torch.equal(path[-1], solve(exact_field, x0, 5))
    with pytest.raises(ValueError, match="unknown sampler 'rk4'"):
        solve(exact_field, x0, 5, "rk4")
    with pytest.raises(ValueError, match="NaN or infinite"):
        solve(exact_field, torch.tensor([[float("inf"), 0.0]]), 5)


def test_evaluations_per_sample_counts_heun_and_guidance():
    assert evaluations_per_sample("euler", 10) == 10
    assert evaluations_per_sample("heun", 5) == 10
    assert evaluations_per_sample("heun", 5, guidance=2.0) == 20
    assert evaluations_per_sample("ddim", 7, guidance=1.0) == 7


class ToyConditional(nn.Module):
    """Velocity = label value (the null label 3 gives 0), so guidance is checkable by hand."""

    num_classes = 3

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x, t, labels=None):
        self.calls += 1
        value = torch.where(labels == 3, torch.zeros_like(labels), labels + 1).float()
        return x * 0 + value[:, None]


def test_guidance_extrapolates_from_the_unconditional_velocity():
    model = ToyConditional()
    labels = torch.tensor([0, 2])
    x, t = torch.zeros(2, 1), torch.full((2,), 0.5)
    assert torch.equal(guided_velocity(model, labels, 1.0)(x, t), torch.tensor([[1.0], [3.0]]))
    assert torch.equal(guided_velocity(model, labels, 0.0)(x, t), torch.tensor([[0.0], [0.0]]))
    assert torch.equal(guided_velocity(model, labels, 2.5)(x, t), torch.tensor([[2.5], [7.5]]))
    calls = model.calls
    guided_velocity(model, labels, 2.5)(x, t)
    assert model.calls == calls + 1  # conditional and unconditional in one batched call


def test_guidance_refuses_what_it_cannot_do():
    model = ToyConditional()
    with pytest.raises(ValueError, match="finite and >= 0"):
        guided_velocity(model, torch.tensor([0]), float("nan"))
    with pytest.raises(ValueError, match="needs labels"):
        guided_velocity(model, None, 2.0)
    with pytest.raises(ValueError, match=r"in 0\.\.2"):
        guided_velocity(model, torch.tensor([3]), 2.0)  # the null label is not a digit to ask for
    unconditional = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="class-conditional"):
        guided_velocity(unconditional, torch.tensor([0]), 2.0)


def test_step_counts_guidance_and_noise_of_the_wrong_kind_are_refused():
    with pytest.raises(TypeError, match="steps must be an integer >= 1, got 2.5"):
        time_grid(2.5)
    with pytest.raises(ValueError, match="steps must be at least 1, got 0"):
        evaluations_per_sample("euler", 0)  # was 0 evaluations
    with pytest.raises(ValueError, match="the guidance scale must be finite and >= 0, got nan"):
        evaluations_per_sample("euler", 3, math.nan)  # was counted as guided
    with pytest.raises(ValueError, match="the starting noise must be a float tensor, got dtype torch.int64"):
        solve(exact_field, torch.zeros(4, 2, dtype=torch.long), steps=2)
