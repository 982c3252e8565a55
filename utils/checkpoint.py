"""Saving and loading model weights safely.

A checkpoint is a ``state_dict`` (a dict of tensors), never a pickled model: it loads with ``weights_only=True``,
which cannot run arbitrary code, and it survives refactoring of the model class. Writes are atomic: the file
appears complete or not at all, even if the kernel dies mid-write.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from utils.paths import atomic_write


def save_checkpoint(weights: nn.Module | Mapping[str, Tensor], path: str | os.PathLike[str]) -> Path:
    """Write a module's ``state_dict()`` (or a state dict itself) to ``path`` atomically; return the path."""
    state = weights.state_dict() if isinstance(weights, nn.Module) else weights
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise TypeError(
            "save_checkpoint takes an nn.Module or a state dict {name: tensor}, not " + type(weights).__name__
        )
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buffer)
    return atomic_write(Path(path), buffer.getvalue())


def load_checkpoint(
    path: str | os.PathLike[str], model: nn.Module | None = None, map_location: str | torch.device = "cpu"
) -> dict[str, Tensor]:
    """Load a state dict with ``weights_only=True``; if ``model`` is given, load it into the model (strictly).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is not a state dict or does
    not fit ``model``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train the model first (or check the path).")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise ValueError(f"{path} is not a loadable weights-only checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    if model is not None:
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(f"{path} does not fit {type(model).__name__}: {err}") from err
    return state
