"""Differentially private SGD (Abadi et al. 2016) from its parts: per-example gradients, clipping, noise.

One DP-SGD step on a batch of B examples: compute each example's gradient g_i on its own, clip it to norm at most
C (``g_i * min(1, C / ||g_i||)``, the norm taken over all parameters at once), sum, add Gaussian noise of standard
deviation ``sigma * C`` to every coordinate, divide by B. Clipping bounds how much any one example can move the
model; the noise hides whether it was there. How much privacy is left after many steps (the epsilon of
(epsilon, delta)-differential privacy) is an accountant's job: ``epsilon_spent`` asks Opacus's RDP accountant.

Chapter 11 builds the step from these functions and then trains with Opacus, which does the same with hooks
(``GradSampleModule``) and Poisson-sampled batches.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn


def per_example_gradients(
    model: nn.Module, loss_fn: Callable[..., Tensor], *batch: Tensor, same_randomness: bool = False
) -> dict[str, Tensor]:
    """The gradient of ``loss_fn(model, *example)`` for every example of ``batch`` (tensors ``[B, ...]``), with
    ``torch.func``: ``{parameter name: [B, *parameter shape]}`` for the parameters that require gradients.

    ``loss_fn`` receives a one-example batch (``[1, ...]``) and must return a scalar; it may draw random numbers
    (a reparameterised sample): each example gets its own unless ``same_randomness``. It must not branch on
    values or call ``.item()`` (vmap traces it; the course's input checks do, so models that check their inputs go
    through Opacus instead). Buffers are read, not updated (no batch-norm statistics: DP-SGD and batch norm do not
    mix, since batch norm couples examples).
    """
    from torch.func import functional_call, grad, vmap

    if not batch or any(not isinstance(t, Tensor) or t.dim() == 0 for t in batch):
        raise ValueError("give at least one batched tensor [B, ...]")
    if len({len(t) for t in batch}) != 1:
        raise ValueError(f"batch tensors differ in length: {[len(t) for t in batch]}")
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("the model has no parameters that require gradients")
    buffers = {name: b.detach() for name, b in model.named_buffers()}

    def loss_of_one(parameters: dict[str, Tensor], *example: Tensor) -> Tensor:
        def call(*inputs: Tensor) -> Tensor:
            return functional_call(model, (parameters, buffers), inputs)

        loss = loss_fn(call, *(t.unsqueeze(0) for t in example))
        if loss.dim() != 0:
            raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
        return loss

    randomness = "same" if same_randomness else "different"
    return vmap(grad(loss_of_one), in_dims=(None, *[0] * len(batch)), randomness=randomness)(params, *batch)


def clip_and_noise(
    gradients: dict[str, Tensor], max_norm: float, noise_multiplier: float, generator: torch.Generator | None = None
) -> dict[str, Tensor]:
    """DP-SGD's gradient from per-example gradients ``{name: [B, ...]}``: each example's gradient clipped to total
    norm ``max_norm`` (over all parameters), summed, plus N(0, (noise_multiplier * max_norm)^2) noise per
    coordinate, divided by B. ``noise_multiplier`` 0 gives the clipped mean. ``generator`` (on the gradients'
    device) makes the noise reproducible."""
    if not gradients:
        raise ValueError("no gradients given")
    if not (math.isfinite(max_norm) and max_norm > 0):
        raise ValueError(f"max_norm must be finite and > 0, got {max_norm}")
    if not (math.isfinite(noise_multiplier) and noise_multiplier >= 0):
        raise ValueError(f"noise_multiplier must be finite and >= 0, got {noise_multiplier}")
    sizes = {len(g) for g in gradients.values()}
    if len(sizes) != 1:
        raise ValueError(f"per-example gradients disagree on the batch size: {sorted(sizes)}")
    batch = sizes.pop()
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(dim=1) for g in gradients.values()))  # [B]
    if not torch.isfinite(norms).all():
        raise ValueError("a per-example gradient contains NaN or infinite values")
    factors = (max_norm / (norms + 1e-12)).clamp(max=1.0)  # [B]
    noisy = {}
    for name, g in gradients.items():
        clipped_sum = (g * factors.view(-1, *[1] * (g.dim() - 1))).sum(dim=0)
        noise = torch.randn(clipped_sum.shape, generator=generator, device=g.device, dtype=g.dtype)
        noisy[name] = (clipped_sum + noise_multiplier * max_norm * noise) / batch
    return noisy


def epsilon_spent(noise_multiplier: float, sample_rate: float, steps: int, delta: float = 1e-5) -> float:
    """The epsilon of (epsilon, delta)-DP after ``steps`` DP-SGD steps with Poisson sampling at ``sample_rate``
    (batch size / dataset size) and ``noise_multiplier``, by Opacus's RDP accountant (inf without noise)."""
    from opacus.accountants import RDPAccountant

    if not (math.isfinite(noise_multiplier) and noise_multiplier >= 0):
        raise ValueError(f"noise_multiplier must be finite and >= 0, got {noise_multiplier}")
    if not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if steps == 0:
        return 0.0
    if noise_multiplier == 0:
        return math.inf
    accountant = RDPAccountant()
    accountant.history = [(noise_multiplier, sample_rate, steps)]
    return float(accountant.get_epsilon(delta=delta))
