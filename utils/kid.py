"""Kernel distance (KID, Bińkowski et al. 2018): an unbiased squared MMD between feature sets.

The Fréchet distance compares two fitted Gaussians and is biased upwards for small sets. The **maximum mean
discrepancy** compares the sets through a kernel instead; with the cubic polynomial kernel

    k(x, y) = (x . y / D + 1)^3

its unbiased estimator (the diagonal terms k(x_i, x_i) left out)

    MMD^2 = mean_{i != j} k(a_i, a_j) + mean_{i != j} k(b_i, b_j) - 2 mean_{i, j} k(a_i, b_j)

has expectation exactly zero when both sets come from the same distribution, so it can be *negative*, and it is
usable with a few hundred samples. KID averages it over random subsets and reports the standard error of that mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from utils.manifold import _check_pair


def polynomial_kernel(a: Tensor, b: Tensor) -> Tensor:
    """The KID kernel matrix ``[N, M]``: (a_i . b_j / D + 1)^3 for features ``a`` ``[N, D]`` and ``b`` ``[M, D]``."""
    return (a @ b.T / a.shape[1] + 1) ** 3


def mmd2_unbiased(a: Tensor, b: Tensor) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel between features ``a`` ``[N, D]`` and ``b`` ``[M, D]``,
    N, M >= 2 (computed in float64; may be negative)."""
    _check_pair(a, b, ("a", "b"), min_count=2)
    a, b = a.detach().double(), b.detach().double()
    n, m = len(a), len(b)
    k_aa, k_bb = polynomial_kernel(a, a), polynomial_kernel(b, b)
    within_a = (k_aa.sum() - k_aa.diagonal().sum()) / (n * (n - 1))
    within_b = (k_bb.sum() - k_bb.diagonal().sum()) / (m * (m - 1))
    return (within_a + within_b - 2 * polynomial_kernel(a, b).mean()).item()


@dataclass(frozen=True)
class KernelDistance:
    """KID: the mean of the unbiased MMD^2 over random subsets and the standard error of that mean."""

    mean: float
    std_error: float
    subsets: int
    subset_size: int


def kernel_distance(
    a: Tensor,
    b: Tensor,
    subsets: int = 50,
    subset_size: int = 1000,
    generator: torch.Generator | None = None,
    disjoint: bool = False,
) -> KernelDistance:
    """KID between features ``a`` ``[N, D]`` and ``b`` ``[M, D]``: ``mmd2_unbiased`` on ``subsets`` pairs of random
    subsets of ``min(subset_size, N, M)`` rows each (drawn without replacement within a subset, with ``generator``).

    The standard error is the subsets' standard deviation / sqrt(subsets). Random subsets of one pool overlap, so
    it then measures only the noise of picking subsets and is too small as a standard error of the pools' KID (the
    usual practice, fine for ranking); with ``disjoint`` every row is used at most once (subsets x subset_size
    rows must fit in both sets), the estimates are independent, and the standard error is honest.
    """
    _check_pair(a, b, ("a", "b"), min_count=2)
    if isinstance(subsets, bool) or not isinstance(subsets, int) or subsets < 2:
        raise ValueError(f"subsets must be an integer >= 2 (a standard error needs two), got {subsets!r}")
    if isinstance(subset_size, bool) or not isinstance(subset_size, int) or subset_size < 2:
        raise ValueError(f"subset_size must be an integer >= 2, got {subset_size!r}")
    size = min(subset_size, len(a), len(b))
    if disjoint and subsets * size > min(len(a), len(b)):
        raise ValueError(
            f"disjoint subsets need subsets x subset_size = {subsets * size} rows, but the sets have {len(a)} and {len(b)}"
        )
    if disjoint:
        order_a = torch.randperm(len(a), generator=generator).to(a.device)
        order_b = torch.randperm(len(b), generator=generator).to(b.device)
    values = []
    for i in range(subsets):
        if disjoint:
            pick_a, pick_b = order_a[i * size : (i + 1) * size], order_b[i * size : (i + 1) * size]
        else:
            pick_a = torch.randperm(len(a), generator=generator)[:size].to(a.device)
            pick_b = torch.randperm(len(b), generator=generator)[:size].to(b.device)
        values.append(mmd2_unbiased(a[pick_a], b[pick_b]))
    spread = torch.tensor(values, dtype=torch.float64)
    return KernelDistance(spread.mean().item(), spread.std().item() / math.sqrt(subsets), subsets, size)
