"""Seeding every random number generator a chapter uses, in one call."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and all GPUs) with ``seed``.

    Returns a fresh ``torch.Generator`` seeded with ``seed`` for code that wants its own stream (shuffling, splits)
    independent of how many random numbers model initialisation consumed.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)
