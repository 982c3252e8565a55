"""Fidelity and diversity as two numbers each: k-nearest-neighbour manifolds of real and generated features.

A single Fréchet distance mixes two failures: samples that look wrong (fidelity) and samples that miss part of the
data (diversity). Kynkäänniemi et al. (2019) separate them by estimating each distribution's *manifold* as the union
of balls around its points, each ball reaching that point's k-th nearest neighbour:

- **precision**: the share of generated samples inside the real manifold (do samples look real?);
- **recall**: the share of real samples inside the generated manifold (is every kind of real digit produced?).

Both are fragile to outliers: a real outlier's huge ball swallows bad samples and inflates precision, a generated
outlier's huge ball swallows real samples and inflates recall. Naeem et al. (2020) proposed

- **density**: how many real balls contain each generated sample, divided by k (one outlier's ball adds only
  1/k; about 1 for matching distributions, above 1 where samples crowd into dense regions, below 1 for poor samples);
- **coverage**: the share of real samples whose own ball contains at least one generated sample (robust to
  outliers among the generated samples, since only real balls are used).

Everything works on features ``[N, D]`` (e.g. ``utils.metrics.mnist_features``) and computes distances in chunks
of rows, so 10,000 x 10,000 distances never sit in memory at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

DEFAULT_CHUNK = 1024  # rows of the distance matrix computed at once: 1024 x 10,000 float32 is 41 MB


def check_features(features: Tensor, name: str = "features", min_count: int = 1) -> None:
    """Raise a clear error unless ``features`` is a finite float tensor ``[N, D]`` with N >= ``min_count``."""
    if not isinstance(features, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [N, D], got {type(features).__name__}")
    if features.dim() != 2 or features.shape[1] < 1:
        raise ValueError(f"{name} must have shape [N, D] with D >= 1, got {tuple(features.shape)}")
    if not features.is_floating_point():
        raise ValueError(f"{name} must be a float tensor, got dtype {features.dtype}")
    if features.shape[0] < min_count:
        raise ValueError(f"{name}: {features.shape[0]} rows are too few; this needs at least {min_count}")
    if not torch.isfinite(features).all():
        raise ValueError(f"{name} contains NaN or infinite values")


def _check_pair(a: Tensor, b: Tensor, names: tuple[str, str], min_count: int = 1) -> None:
    check_features(a, names[0], min_count)
    check_features(b, names[1], min_count)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} must have the same feature size, got {a.shape[1]} and {b.shape[1]}")


def _check_chunk(chunk_size: int) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def nearest_neighbour_distances(
    query: Tensor, reference: Tensor, k: int, exclude_self: bool = False, chunk_size: int = DEFAULT_CHUNK
) -> tuple[Tensor, Tensor]:
    """Euclidean distances ``[M, k]`` (ascending) from each query row to its ``k`` nearest reference rows, and their
    indices ``[M, k]`` (int64) into ``reference``.

    ``exclude_self`` treats query and reference as the same set and skips each row's distance to itself (row i of
    ``query`` is row i of ``reference``), as the k-th-neighbour radius of a point needs.
    """
    _check_pair(query, reference, ("query", "reference"))
    _check_chunk(chunk_size)
    if exclude_self and query.shape != reference.shape:
        raise ValueError("exclude_self needs query and reference to be the same set of rows")
    available = len(reference) - (1 if exclude_self else 0)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= available:
        raise ValueError(f"k must be an integer in 1..{available} (the reference rows available), got {k!r}")
    distances, indices = [], []
    for start in range(0, len(query), chunk_size):
        d = torch.cdist(query[start : start + chunk_size], reference)  # [chunk, N]
        if exclude_self:
            rows = torch.arange(d.shape[0], device=d.device)
            d[rows, rows + start] = float("inf")
        top = d.topk(k, dim=1, largest=False)
        distances.append(top.values)
        indices.append(top.indices)
    return torch.cat(distances), torch.cat(indices)


def knn_radii(features: Tensor, k: int, chunk_size: int = DEFAULT_CHUNK) -> Tensor:
    """Distance ``[N]`` from each row of ``features`` ``[N, D]`` to its k-th nearest *other* row: the ball radii."""
    return nearest_neighbour_distances(features, features, k, exclude_self=True, chunk_size=chunk_size)[0][:, -1]


def _inside_balls(points: Tensor, centres: Tensor, radii: Tensor, chunk_size: int) -> tuple[Tensor, Tensor]:
    """For each point ``[M]``, how many balls (centres ``[N, D]``, radii ``[N]``) contain it; for each centre ``[N]``,
    whether any point lies in its ball."""
    counts = torch.zeros(len(points), dtype=torch.long, device=points.device)
    hit = torch.zeros(len(centres), dtype=torch.bool, device=points.device)
    for start in range(0, len(points), chunk_size):
        inside = torch.cdist(points[start : start + chunk_size], centres) <= radii  # [chunk, N]
        counts[start : start + chunk_size] = inside.sum(dim=1)
        hit |= inside.any(dim=0)
    return counts, hit


def covered_real(real: Tensor, fake: Tensor, k: int = 5, chunk_size: int = DEFAULT_CHUNK) -> Tensor:
    """Boolean ``[N]``: whether each real row's k-NN ball (among the real rows) contains a generated row.

    Its mean is the coverage; its mean over one class's rows is that class's coverage (a dropped digit shows as ~0).
    """
    _check_pair(real, fake, ("real", "fake"))
    return _inside_balls(fake, real, knn_radii(real, k, chunk_size), chunk_size)[1]


@dataclass(frozen=True)
class FidelityDiversity:
    """The four k-NN numbers for one set of generated samples against real ones (all in [0, 1] except density)."""

    precision: float  # share of generated samples inside the real manifold
    recall: float  # share of real samples inside the generated manifold
    density: float  # mean number of real balls containing a generated sample, / k (about 1 for matching sets)
    coverage: float  # share of real balls that contain at least one generated sample


def fidelity_diversity(real: Tensor, fake: Tensor, k: int = 5, chunk_size: int = DEFAULT_CHUNK) -> FidelityDiversity:
    """Precision, recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020) of generated
    features ``fake`` ``[M, D]`` against real features ``real`` ``[N, D]`` with k-NN balls, M, N > k."""
    _check_pair(real, fake, ("real", "fake"), min_count=2)
    real_radii = knn_radii(real, k, chunk_size)
    fake_radii = knn_radii(fake, k, chunk_size)
    real_balls_per_fake, real_ball_hit = _inside_balls(fake, real, real_radii, chunk_size)
    fake_balls_per_real, _ = _inside_balls(real, fake, fake_radii, chunk_size)
    return FidelityDiversity(
        precision=(real_balls_per_fake > 0).double().mean().item(),
        recall=(fake_balls_per_real > 0).double().mean().item(),
        density=real_balls_per_fake.double().mean().item() / k,
        coverage=real_ball_hit.double().mean().item(),
    )
