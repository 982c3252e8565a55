"""Flow matching on the straight path from noise to data, and how its prediction converts into the others.

The course's convention (Lipman et al., 2023; Liu et al., 2023, "rectified flow"): time runs from noise at t = 0
to data at t = 1,

    x_t = (1 - t) x_0 + t x_1,    x_0 ~ N(0, I) (noise),  x_1 ~ data,

and a network ``v(x_t, t)`` learns the velocity of that path, ``x_1 - x_0``, by plain regression
(``flow_matching_loss``). Its minimiser is the velocity field E[x_1 - x_0 | x_t] of an ODE that carries noise to
data (``utils.samplers`` integrates it). Given one prediction the others follow in closed form, so one trained
network serves every sampler:

    data estimate   x1_hat = x_t + (1 - t) v           noise estimate  x0_hat = x_t - t v
    score           grad log p_t(x_t) = -x0_hat / (1 - t)
    from a noise (epsilon) prediction:  v = (x_t - eps) / t

A point of a variance-preserving (DDPM) process, ``a x_data + s eps`` with ``a^2 + s^2 = 1``, is the point
``t = a / (a + s)`` of this path scaled by ``a + s`` (``vp_to_flow_time``).

Velocity networks take ``(x [B, ...], t [B] in [0, 1], labels [B] or None)``; a class-conditional network has a
learned "no label" embedding at index ``num_classes``, which ``flow_matching_loss`` substitutes for a fraction of
the labels (``label_dropout``) so that the same network also predicts the unconditional velocity (for guidance).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _time_like(t: Tensor, x: Tensor) -> Tensor:
    """Times ``[B]`` reshaped to broadcast against ``x`` ``[B, ...]``."""
    if t.dim() != 1 or t.shape[0] != x.shape[0]:
        raise ValueError(f"expected times [B] = [{x.shape[0]}], got shape {tuple(t.shape)}")
    return t.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))


def interpolate(noise: Tensor, data: Tensor, t: Tensor) -> Tensor:
    """The point ``x_t = (1 - t) noise + t data`` ``[B, ...]`` of the straight path, for times ``t`` ``[B]``."""
    if noise.shape != data.shape:
        raise ValueError(f"noise {tuple(noise.shape)} and data {tuple(data.shape)} must have the same shape")
    t = _time_like(t, data)
    return (1 - t) * noise + t * data


def data_from_velocity(x_t: Tensor, t: Tensor, velocity: Tensor) -> Tensor:
    """The network's estimate of the clean data, ``x_t + (1 - t) v`` ``[B, ...]``."""
    return x_t + (1 - _time_like(t, x_t)) * velocity


def noise_from_velocity(x_t: Tensor, t: Tensor, velocity: Tensor) -> Tensor:
    """The network's estimate of the noise (DDPM's epsilon), ``x_t - t v`` ``[B, ...]``."""
    return x_t - _time_like(t, x_t) * velocity


def score_from_velocity(x_t: Tensor, t: Tensor, velocity: Tensor) -> Tensor:
    """The score ``grad_x log p_t(x_t) = -x0_hat / (1 - t)`` ``[B, ...]``; needs ``t < 1``."""
    if not (t < 1).all():  # also catches NaN times
        raise ValueError("the score is undefined at t = 1 (the data itself); use t < 1 (and no NaN)")
    return -noise_from_velocity(x_t, t, velocity) / (1 - _time_like(t, x_t))


def velocity_from_noise(x_t: Tensor, t: Tensor, noise: Tensor) -> Tensor:
    """The velocity ``(x_t - eps) / t`` ``[B, ...]`` implied by a noise (epsilon) prediction; needs ``t > 0``."""
    if not (t > 0).all():  # also catches NaN times
        raise ValueError("a noise prediction says nothing about the velocity at t = 0 (pure noise); use t > 0 "
                         "(and no NaN)")
    return (x_t - noise) / _time_like(t, x_t)


def vp_to_flow_time(alpha: Tensor) -> tuple[Tensor, Tensor]:
    """For variance-preserving signal levels ``alpha`` (= sqrt(alpha_bar) in DDPM, in (0, 1)): the flow time
    ``t = alpha / (alpha + sigma)`` and the scale ``alpha + sigma`` by which ``x_vp = scale * x_t``
    (sigma = sqrt(1 - alpha^2))."""
    if not ((alpha > 0) & (alpha < 1)).all():  # also catches NaN
        raise ValueError("signal levels alpha must lie strictly between 0 and 1")
    sigma = (1 - alpha**2).sqrt()
    return alpha / (alpha + sigma), alpha + sigma


def check_labels(labels: Tensor | None, batch: int, num_classes: int, allow_null: bool = False) -> None:
    """Raise ``ValueError`` unless ``labels`` fit a network with ``num_classes`` classes (0 = unconditional):
    int64 ``[batch]`` in 0..num_classes - 1 (or up to ``num_classes``, the "no label" index, if ``allow_null``)."""
    if num_classes == 0:
        if labels is not None:
            raise ValueError("this model is unconditional: pass no labels (or build it with num_classes > 0)")
        return
    if labels is None:
        return  # a conditional network without labels predicts the unconditional velocity
    if not isinstance(labels, Tensor) or labels.shape != (batch,) or labels.dtype != torch.long:
        got = f"{tuple(labels.shape)} {labels.dtype}" if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"labels must be int64 of shape [{batch}], got {got}")
    top = num_classes if allow_null else num_classes - 1
    if labels.numel() and (labels.min() < 0 or labels.max() > top):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got values in "
                         f"[{labels.min().item()}, {labels.max().item()}]")


def drop_labels(labels: Tensor, num_classes: int, p: float, generator: torch.Generator | None = None) -> Tensor:
    """Labels ``[B]`` with each replaced by the "no label" index ``num_classes`` with probability ``p``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"the label dropout probability must be in [0, 1], got {p}")
    drop = torch.rand(labels.shape, generator=generator, device="cpu").to(labels.device) < p
    return torch.where(drop, torch.full_like(labels, num_classes), labels)


def flow_matching_loss(
    model: nn.Module,
    data: Tensor,
    labels: Tensor | None = None,
    *,
    label_dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Mean squared error between ``model(x_t, t, labels)`` and the path's velocity ``data - noise`` (a scalar).

    ``data`` ``[B, ...]``; times uniform in [0, 1] and Gaussian noise are drawn with ``generator`` (a CPU
    generator; the draws move to the data's device). With ``labels`` ``[B]``, each is replaced by the model's
    "no label" index (``model.num_classes``) with probability ``label_dropout``.
    """
    if not 0.0 <= label_dropout <= 1.0:  # also refuses NaN, which would silently mean "no dropout"
        raise ValueError(f"label_dropout must be in [0, 1], got {label_dropout}")
    if not torch.isfinite(data).all():
        raise ValueError("data contains NaN or infinite values")
    noise = torch.randn(data.shape, generator=generator).to(data.device, data.dtype)
    t = torch.rand(data.shape[0], generator=generator).to(data.device, data.dtype)
    if labels is not None and label_dropout > 0:
        labels = drop_labels(labels, model.num_classes, label_dropout, generator)
    prediction = model(interpolate(noise, data, t), t, labels)
    return (prediction - (data - noise)).pow(2).mean()


def gaussian_velocity(x_t: Tensor, t: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """The exact velocity field ``[B, D]`` of the straight path when the data are N(mean, diag(std^2)) (``[D]``).

    Then x_t ~ N(t mean, (1 - t)^2 + t^2 std^2) per dimension and E[x_1 - x_0 | x_t] is linear in x_t; the tests
    use it to check samplers against the exact solution, and it shows what a perfect network would predict.
    """
    t = _time_like(t, x_t)
    var_t = (1 - t) ** 2 + t**2 * std**2
    # Cov(x_1 - x_0, x_t) = t std^2 + (1 - t) per dimension; E[x_1 - x_0] = mean
    return mean + (t * std**2 - (1 - t)) / var_t * (x_t - t * mean)


def gaussian_flow_map(x0: Tensor, mean: Tensor, std: Tensor, t: float = 1.0) -> Tensor:
    """Where the exact ODE of ``gaussian_velocity`` carries noise ``x0`` ``[B, D]`` at time ``t``: per dimension,
    ``x_t = t mean + sqrt((1 - t)^2 + t^2 std^2) x0`` (at t = 1: ``mean + std * x0``)."""
    return t * mean + ((1 - t) ** 2 + t**2 * std**2).sqrt() * x0
