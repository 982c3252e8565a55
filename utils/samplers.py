"""Solving the flow ODE dx/dt = v(x, t) from noise (t = 0) to data (t = 1), and classifier-free guidance.

A velocity function takes ``(x [B, ...], t [B])`` and returns ``[B, ...]`` (``model_velocity`` and ``guided_velocity``
make one from a network). Every sampler walks a grid of times ``0 = t_0 < t_1 < ... < t_N = 1``:

- ``euler``: x += (t_next - t) v(x, t); one network evaluation per step, error O(1/N).
- ``heun``: an Euler trial step, then the average of the slopes at both ends (the trapezoid rule); two evaluations
  per step, error O(1/N^2), so far fewer steps for the same accuracy (Karras et al., 2022, use it for EDM).
- ``ddim``: the deterministic DDIM update (Song et al., 2021) written with the data and noise estimates,
  x_next = t_next x1_hat + (1 - t_next) x0_hat. On the straight path this is *exactly* the Euler step (expand
  both); what DDIM adds is its time grid. ``time_grid(n, "cosine")`` is the grid of DDIM with a cosine
  variance-preserving schedule, mapped to flow times: it spends more steps in the middle of the path.

``evaluations_per_sample`` counts the network evaluations a setting costs each sample (guidance doubles them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral

import torch
from torch import Tensor, nn

from utils.flow import check_labels, data_from_velocity, noise_from_velocity

Velocity = Callable[[Tensor, Tensor], Tensor]  # v(x [B, ...], t [B]) -> [B, ...]

METHODS = ("euler", "heun", "ddim")
GRIDS = ("uniform", "cosine")


def _check_steps(steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, Integral):
        raise TypeError(f"steps must be an integer >= 1, got {steps!r}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")


def time_grid(steps: int, kind: str = "uniform", device: torch.device | str = "cpu") -> Tensor:
    """``steps + 1`` increasing times ``[steps + 1]`` from 0 (noise) to 1 (data).

    ``"uniform"``: equal steps. ``"cosine"``: DDIM's steps, uniform in the time tau of a cosine variance-preserving
    schedule (alpha = cos(pi tau / 2), sigma = sin(pi tau / 2)), mapped to flow time t = alpha / (alpha + sigma).
    """
    _check_steps(steps)
    u = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    if kind == "uniform":
        t = u
    elif kind == "cosine":
        tau = (1 - u) * math.pi / 2
        t = tau.cos() / (tau.cos() + tau.sin())
        t[0], t[-1] = 0.0, 1.0
    else:
        raise ValueError(f"unknown time grid {kind!r}; choose one of {GRIDS}")
    return t.float().to(device)


def _full(t: float | Tensor, x: Tensor) -> Tensor:
    return torch.full((x.shape[0],), float(t), device=x.device, dtype=x.dtype)


def euler_step(velocity: Velocity, x: Tensor, t: float, t_next: float) -> Tensor:
    """One Euler step of the ODE from ``t`` to ``t_next``: ``x + (t_next - t) v(x, t)`` ``[B, ...]``."""
    return x + (t_next - t) * velocity(x, _full(t, x))


def heun_step(velocity: Velocity, x: Tensor, t: float, t_next: float) -> Tensor:
    """One Heun step: the mean of the slope at ``(x, t)`` and at the Euler guess at ``t_next`` ``[B, ...]``."""
    slope = velocity(x, _full(t, x))
    guess = x + (t_next - t) * slope
    return x + (t_next - t) * 0.5 * (slope + velocity(guess, _full(t_next, x)))


def ddim_step(velocity: Velocity, x: Tensor, t: float, t_next: float) -> Tensor:
    """One deterministic DDIM step, ``t_next x1_hat + (1 - t_next) x0_hat`` ``[B, ...]`` (equals ``euler_step``)."""
    tt = _full(t, x)
    v = velocity(x, tt)
    return t_next * data_from_velocity(x, tt, v) + (1 - t_next) * noise_from_velocity(x, tt, v)


_STEPS = {"euler": euler_step, "heun": heun_step, "ddim": ddim_step}


@torch.no_grad()
def solve(
    velocity: Velocity,
    noise: Tensor,
    steps: int,
    method: str = "euler",
    grid: str = "uniform",
    trajectory: bool = False,
) -> Tensor:
    """Carry ``noise`` ``[B, ...]`` from t = 0 to t = 1 in ``steps`` steps of ``method`` on the ``grid``.

    Returns the samples ``[B, ...]``, or with ``trajectory=True`` every intermediate state ``[steps + 1, B, ...]``.
    """
    if method not in _STEPS:
        raise ValueError(f"unknown sampler {method!r}; choose one of {METHODS}")
    if not noise.is_floating_point():
        raise ValueError(f"the starting noise must be a float tensor, got dtype {noise.dtype}")
    if not torch.isfinite(noise).all():
        raise ValueError("the starting noise contains NaN or infinite values")
    times = time_grid(steps, grid).tolist()
    step = _STEPS[method]
    x, states = noise, [noise]
    for t, t_next in zip(times[:-1], times[1:]):
        x = step(velocity, x, t, t_next)
        if trajectory:
            states.append(x)
    return torch.stack(states) if trajectory else x


def evaluations_per_sample(method: str, steps: int, guidance: float = 1.0) -> int:
    """Network evaluations each sample costs: ``steps`` (Euler, DDIM) or ``2 steps`` (Heun), doubled by guidance
    (a guidance scale other than 1 evaluates the network with and without the label)."""
    check_sampler_settings(method, steps, guidance)
    per_step = 2 if method == "heun" else 1
    return steps * per_step * (1 if guidance == 1.0 else 2)


def _check_guidance(scale: float) -> None:
    if not math.isfinite(scale) or scale < 0:
        raise ValueError(f"the guidance scale must be finite and >= 0, got {scale}")


def check_sampler_settings(method: str, steps: int, guidance: float = 1.0) -> None:
    """Raise ``ValueError`` (``TypeError`` for non-integer steps) unless ``method`` is one of ``METHODS``, ``steps``
    an integer >= 1 and ``guidance`` finite and >= 0."""
    if method not in _STEPS:
        raise ValueError(f"unknown sampler {method!r}; choose one of {METHODS}")
    _check_steps(steps)
    _check_guidance(guidance)


def model_velocity(model: nn.Module, labels: Tensor | None = None) -> Velocity:
    """The velocity function of a network ``model(x, t, labels)`` for fixed ``labels`` ``[B]`` (or none)."""
    return lambda x, t: model(x, t, labels)


def guided_velocity(model: nn.Module, labels: Tensor, scale: float) -> Velocity:
    """Classifier-free guidance (Ho & Salimans, 2022): ``v_uncond + scale (v_cond - v_uncond)``.

    ``model`` was trained with label dropout, so index ``model.num_classes`` ("no label") gives the unconditional
    velocity. ``scale`` = 1 is the plain conditional model; larger values push samples towards what makes the label
    likely (sharper, more recognisable, less diverse); 0 ignores the label. One batched call per evaluation.
    """
    _check_guidance(scale)
    num_classes = getattr(model, "num_classes", 0)
    if num_classes == 0:
        raise ValueError("guidance needs a class-conditional model (num_classes > 0) trained with label dropout")
    if not isinstance(labels, Tensor) or labels.dim() != 1:
        raise ValueError("guidance needs labels: an int64 tensor [B] of the digits to draw")
    check_labels(labels, labels.shape[0], num_classes)
    if scale == 1.0:
        return model_velocity(model, labels)
    null = torch.full_like(labels, num_classes)

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]))
        conditional, unconditional = both.chunk(2)
        return unconditional + scale * (conditional - unconditional)

    return velocity
