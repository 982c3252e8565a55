"""Data augmentation on in-memory image batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def shift_images(images: Tensor, shifts: Tensor) -> Tensor:
    """Translate each image ``[N, C, H, W]`` by whole pixels ``shifts[i] = (dx, dy)`` (``[N, 2]``), filling with 0.

    Positive ``dx`` moves the content right, positive ``dy`` down.
    """
    if images.dim() != 4 or shifts.shape != (images.shape[0], 2):
        raise ValueError(
            f"expected images [N, C, H, W] and shifts [N, 2], got {tuple(images.shape)}, {tuple(shifts.shape)}"
        )
    n, _, h, w = images.shape
    theta = torch.zeros(n, 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    # affine_grid maps output to input coordinates in [-1, 1]: moving content by +d pixels samples from -d.
    theta[:, 0, 2] = -2.0 * shifts[:, 0].to(images.dtype) / w
    theta[:, 1, 2] = -2.0 * shifts[:, 1].to(images.dtype) / h
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def random_shift(images: Tensor, max_shift: int = 2, generator: torch.Generator | None = None) -> Tensor:
    """Translate every image ``[N, C, H, W]`` by its own random whole-pixel offset in ``[-max_shift, max_shift]``."""
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    shifts = torch.randint(-max_shift, max_shift + 1, (images.shape[0], 2), generator=generator)
    return shift_images(images, shifts.to(images.device))
