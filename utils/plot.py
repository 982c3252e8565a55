"""Pictures every chapter needs: grids of images and training curves.

Functions return the matplotlib ``Figure`` without showing it; a notebook cell ends with ``plt.show()``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

_RANGE_SLACK = 1e-3  # show_images accepts [0, 1] up to rounding (e.g. 1.0000001 after a rescaling); clamped for display


def _images_per_row(nrow: object, n: int) -> int:
    """``nrow`` checked (an int >= 1), or the near-square default ``ceil(sqrt(n))`` for ``None``."""
    if nrow is None:
        return math.ceil(math.sqrt(n))
    if isinstance(nrow, bool) or not isinstance(nrow, numbers.Integral):
        raise TypeError(f"nrow must be an int >= 1 (or None for a near-square layout), got {nrow!r}")
    if nrow < 1:
        raise ValueError(f"nrow must be at least 1 (or None for a near-square layout), got {nrow}")
    return int(nrow)


def make_grid(images: Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0) -> Tensor:
    """Tile images ``[N, C, H, W]`` (or ``[N, H, W]``) into one picture ``[C, rows*(H+p)+p, nrow*(W+p)+p]``.

    ``nrow`` is the number of images per row (``None``: a near-square layout); empty cells are ``pad_value``.
    Values pass through unchanged, whatever their range.
    """
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(f"expected images [N, C, H, W] or [N, H, W] with N > 0, got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    nrow = _images_per_row(nrow, n)
    rows = math.ceil(n / nrow)
    grid = images.new_full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), pad_value)
    for i in range(n):
        top, left = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


def _to_hwc(image: Tensor) -> np.ndarray:
    """``[1, H, W]`` -> ``[H, W]`` or ``[3, H, W]`` -> ``[H, W, 3]``, as a NumPy array for ``imshow``."""
    return (image[0] if image.shape[0] == 1 else image.permute(1, 2, 0)).numpy()


def show_images(
    images: Tensor,
    nrow: int | None = None,
    labels: Sequence[object] | None = None,
    title: str | None = None,
    cmap: str = "gray",
    scale: float = 1.0,
) -> Figure:
    """Show images ``[N, 1 or 3, H, W]`` (or ``[N, H, W]``) with values in [0, 1] as a grid, ``nrow`` per row
    (``None``: a near-square layout).

    With ``labels`` every image gets its own small axes and caption; without, the images are tiled into one picture.
    Values outside [0, 1] (images in [0, 255] or [-1, 1]), NaN and inf are refused: clamped, they would show white.
    """
    images = images.detach().float().cpu()
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1] not in (1, 3) or images.shape[0] == 0:
        raise ValueError(f"expected images [N, 1 or 3, H, W] or [N, H, W] with N > 0, got shape {tuple(images.shape)}")
    if labels is not None and len(labels) != images.shape[0]:
        raise ValueError(f"got {len(labels)} labels for {images.shape[0]} images")
    low, high = images.min().item(), images.max().item()
    if not (math.isfinite(low) and math.isfinite(high)):  # min and max are NaN if any value is
        raise ValueError("show_images expects values in [0, 1], got images holding NaN or inf")
    if low < -_RANGE_SLACK or high > 1 + _RANGE_SLACK:
        raise ValueError(
            f"show_images expects values in [0, 1], got values in [{low:.4g}, {high:.4g}]: divide images in [0, 255] "
            "by 255, map images in [-1, 1] with (x + 1) / 2 (utils.gan.to_unit_range)"
        )
    n = images.shape[0]
    nrow = _images_per_row(nrow, n)
    rows = math.ceil(n / nrow)
    if labels is None:
        grid = make_grid(images, nrow=nrow).clamp(0, 1)
        fig, ax = plt.subplots(figsize=(scale * 0.6 * nrow + 0.5, scale * 0.6 * rows + 0.5))
        ax.imshow(_to_hwc(grid), cmap=cmap, vmin=0, vmax=1)
        ax.axis("off")
    else:
        fig, axes = plt.subplots(rows, nrow, figsize=(scale * 1.1 * nrow, scale * 1.25 * rows), squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < n:
                ax.imshow(_to_hwc(images[i].clamp(0, 1)), cmap=cmap, vmin=0, vmax=1)
                ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_curves(
    curves: Mapping[str, Sequence[float]],
    xlabel: str = "epoch",
    ylabel: str = "",
    title: str | None = None,
    logy: bool = False,
    smooth: int = 1,
) -> Figure:
    """Plot named curves ``{"train": [...], "val": [...]}`` on one axes; ``smooth`` > 1 adds a running mean."""
    if not curves:
        raise ValueError("plot_curves needs at least one curve")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in curves.items():
        y = torch.as_tensor(list(values), dtype=torch.float64)
        x = torch.arange(1, len(y) + 1) if xlabel == "epoch" else torch.arange(len(y))
        if smooth > 1 and len(y) >= smooth:
            ax.plot(x, y, alpha=0.25)
            kernel = torch.ones(smooth, dtype=torch.float64) / smooth
            running = torch.nn.functional.conv1d(y.view(1, 1, -1), kernel.view(1, 1, -1)).flatten()
            ax.plot(x[smooth - 1 :], running, label=name, color=ax.lines[-1].get_color())
        else:
            ax.plot(x, y, label=name, marker="o" if len(y) <= 30 else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
