"""Telling real from generated: the classifier two-sample test (Lopez-Paz & Oquab, 2017).

If a classifier trained to separate real from generated features does no better than chance on held-out data, the
two sets are indistinguishable *to that classifier*. Balance the two sets, train on half of each, and measure the
accuracy on the other half: 0.5 means indistinguishable, 1.0 means every sample gives itself away. The accuracy is
an interpretable effect size, and its standard error sqrt(0.25 / n_test) says how far from 0.5 chance can push it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from utils.manifold import _check_pair


@dataclass(frozen=True)
class TwoSampleTest:
    """Held-out accuracy of a real-vs-generated classifier."""

    accuracy: float  # in [0, 1]; 0.5 = indistinguishable
    std_error: float  # of the accuracy under the null hypothesis (same distribution): sqrt(0.25 / n_test)
    n_test: int  # held-out rows (half from each set)


def classifier_two_sample_test(
    real: Tensor,
    fake: Tensor,
    hidden: int = 64,
    steps: int = 300,
    lr: float = 1e-2,
    weight_decay: float = 1e-3,
    generator: torch.Generator | None = None,
) -> TwoSampleTest:
    """Train a one-hidden-layer MLP (``hidden`` units, full-batch AdamW for ``steps`` steps) to tell features
    ``real`` ``[N, D]`` from ``fake`` ``[M, D]`` on half of min(N, M) rows of each, then test it on the other half.

    Features are standardised with the training half's statistics. Seed ``generator`` for a reproducible split and
    initialisation. Runs on the features' device.
    """
    _check_pair(real, fake, ("real", "fake"), min_count=4)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"hidden must be a positive integer, got {hidden!r}")
    n = min(len(real), len(fake))
    half = n // 2
    device = real.device
    pick_real = torch.randperm(len(real), generator=generator)[:n].to(device)
    pick_fake = torch.randperm(len(fake), generator=generator)[:n].to(device)
    real, fake = real[pick_real].float(), fake.to(device)[pick_fake].float()
    x_train = torch.cat([real[:half], fake[:half]])
    y_train = torch.cat([torch.ones(half), torch.zeros(half)]).to(device)
    x_test = torch.cat([real[half:], fake[half:]])
    y_test = torch.cat([torch.ones(n - half), torch.zeros(n - half)]).to(device)
    mean, std = x_train.mean(dim=0), x_train.std(dim=0).clamp(min=1e-6)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = nn.Sequential(nn.Linear(x_train.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 1)).to(device)
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        loss = nn.functional.binary_cross_entropy_with_logits(classifier(x_train).squeeze(1), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = ((classifier(x_test).squeeze(1) > 0).float() == y_test).double().mean().item()
    return TwoSampleTest(accuracy, math.sqrt(0.25 / len(y_test)), len(y_test))
