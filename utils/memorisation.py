"""Does a generator copy its training data? The nearest-neighbour copy test.

A sample that is a copy of a training image sits much closer to that one image than to any other. With the
criterion of Yoon et al. (2023) and Gu et al. (2023), a simpler form of the one Carlini et al. (2023) used to extract
training images from diffusion models (they compare the nearest distance with the mean distance to the 50 nearest),
a sample is flagged as a **copy** when

    d(sample, nearest training image) / d(sample, second-nearest training image) < 1/3

(distances in pixel space, or any feature space). The ratio is scale-free, so the threshold carries over between
datasets; a real digit that was *not* trained on has several similar training digits and a ratio near 1. So has a
near-copy of a *common* shape: the test catches copies of distinctive training images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from utils.manifold import DEFAULT_CHUNK, _check_pair, nearest_neighbour_distances

COPY_THRESHOLD = 1 / 3  # Yoon et al. (2023), Gu et al. (2023): nearest / second-nearest distance below this is a copy


@dataclass(frozen=True)
class CopyTest:
    """The copy test for M samples against a training set."""

    ratio: Tensor  # [M] nearest / second-nearest training distance (0 for an exact copy)
    nearest: Tensor  # [M] int64 index of each sample's nearest training row
    nearest_distance: Tensor  # [M] Euclidean distance to it
    is_copy: Tensor  # [M] bool: ratio < threshold

    @property
    def copy_fraction(self) -> float:
        """Share of samples flagged as copies."""
        return self.is_copy.double().mean().item()


def copy_test(
    samples: Tensor, train: Tensor, threshold: float = COPY_THRESHOLD, chunk_size: int = DEFAULT_CHUNK
) -> CopyTest:
    """The copy test of ``samples`` ``[M, D]`` against ``train`` ``[N, D]`` (N >= 2; flatten images to ``[M, 784]``).

    When both nearest distances are 0 (a sample equal to a training image that occurs twice) the ratio is 0: a copy.
    """
    _check_pair(samples, train, ("samples", "train"))
    if len(train) < 2:
        raise ValueError(f"train needs at least 2 rows (a nearest and a second-nearest), got {len(train)}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    samples, train = samples.float(), train.float()
    _, indices = nearest_neighbour_distances(samples, train, k=2, chunk_size=chunk_size)
    # cdist's matrix-product path (used above 25 rows) leaves rounding noise on distances near 0, which turns the
    # 0 / 0 of a duplicated training image into a ratio near 1: recompute the two candidates' distances directly
    distances = torch.cat([
        (samples[start : start + chunk_size, None] - train[indices[start : start + chunk_size]]).norm(dim=2)
        for start in range(0, len(samples), chunk_size)
    ])
    distances, order = distances.sort(dim=1)
    indices = indices.gather(1, order)
    first, second = distances[:, 0], distances[:, 1]
    ratio = torch.where(second > 0, first / second.clamp(min=torch.finfo(second.dtype).tiny), torch.zeros_like(first))
    return CopyTest(ratio=ratio, nearest=indices[:, 0], nearest_distance=first, is_copy=ratio < threshold)
