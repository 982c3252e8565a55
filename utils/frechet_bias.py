"""The Fréchet distance depends on the number of samples: measure the bias and extrapolate it away.

A covariance estimated from n samples is noisy, and the noise adds to the distance: the expected Fréchet distance
of n samples is, to first order, FD_inf + c / n (Chong & Forsyth, 2020). So a model scored on 1,000 samples looks
worse than the same model on 10,000, and two papers that used different n cannot be compared. ``frechet_curve``
measures the distance at several n; ``extrapolate_frechet`` fits the straight line in 1/n and reads off n -> inf.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from utils.manifold import check_features
from utils.metrics import feature_statistics, frechet_distance_from_statistics


def frechet_curve(
    features: Tensor,
    reference: tuple[Tensor, Tensor],
    sizes: Sequence[int],
    repeats: int = 5,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Mean Fréchet distance of ``repeats`` random subsets of ``features`` ``[N, D]`` of each size in ``sizes``
    (each D < size <= N) to the Gaussian ``reference`` (mean ``[D]``, covariance ``[D, D]``, e.g.
    ``utils.metrics.mnist_test_statistics()``): one number per size. Averaging removes the subsets' noise, not the
    bias, which is what the curve shows."""
    check_features(features)
    if not sizes:
        raise ValueError("sizes must name at least one subset size")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    dim = features.shape[1]
    distances = []
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, int) or not dim < n <= len(features):
            raise ValueError(f"each size must be an integer in {dim + 1}..{len(features)} (more rows than features), got {n!r}")
        total = 0.0
        for _ in range(repeats):
            pick = torch.randperm(len(features), generator=generator)[:n].to(features.device)
            total += frechet_distance_from_statistics(*feature_statistics(features[pick]), *reference)
        distances.append(total / repeats)
    return distances


def extrapolate_frechet(sizes: Sequence[int], distances: Sequence[float]) -> tuple[float, float]:
    """Least-squares fit of distance = fd_inf + slope / n over at least two distinct sizes: ``(fd_inf, slope)``."""
    if len(sizes) != len(distances) or len(set(sizes)) < 2:
        raise ValueError(f"need matching sizes and distances with at least two distinct sizes, got {sizes}, {distances}")
    if any(n <= 0 for n in sizes):
        raise ValueError(f"sizes must be positive, got {list(sizes)}")
    inverse = torch.tensor([1.0 / n for n in sizes], dtype=torch.float64)
    y = torch.tensor(list(distances), dtype=torch.float64)
    if not torch.isfinite(y).all():
        raise ValueError(f"distances must be finite, got {list(distances)}")
    design = torch.stack([torch.ones_like(inverse), inverse], dim=1)
    solution = torch.linalg.lstsq(design, y.unsqueeze(1)).solution.squeeze(1)
    return solution[0].item(), solution[1].item()
