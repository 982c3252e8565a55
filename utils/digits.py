"""The course's convention for digit images, written once: float tensors ``[N, 1, 28, 28]`` with values in [0, 1].

``load_mnist`` returns them, every generator's ``sample`` returns them, and the evaluator, the metrics, the VAE and
the GAN training loop accept only them (``check_digit_images``). ``MNIST_MEAN`` and ``MNIST_STD`` are the pixel
statistics of the 60,000 MNIST training images, which the classifiers subtract and divide by.
"""

from __future__ import annotations

import math

from torch import Tensor

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # mean and standard deviation of the MNIST training pixels in [0, 1]


def check_digit_images(images: Tensor, name: str = "images", min_count: int = 1) -> None:
    """Raise a clear error unless ``images`` is a float tensor ``[N, 1, 28, 28]`` in [0, 1] with N >= min_count.

    ``TypeError`` for something that is not a tensor, ``ValueError`` for a wrong shape, dtype, range or count
    (including NaN and infinite values).
    """
    if not isinstance(images, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [N, 1, 28, 28], got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1:] != (1, 28, 28):
        raise ValueError(f"{name} must have shape [N, 1, 28, 28], got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be a float tensor with values in [0, 1], got dtype {images.dtype}")
    if images.shape[0] < min_count:
        raise ValueError(
            f"{name}: {images.shape[0]} images are too few; this needs at least {min_count} "
            f"(and several thousand for a stable score)"
        )
    if images.numel() == 0:
        return
    low, high = images.min().item(), images.max().item()
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0.0 or high > 1.0:
        raise ValueError(
            f"{name} must have values in [0, 1], found [{low:.3g}, {high:.3g}]: "
            "rescale a generator's [-1, 1] output with (x + 1) / 2, divide 0-255 pixels by 255, "
            "and clamp or check for NaNs"
        )
