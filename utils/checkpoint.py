"""Saving and loading model weights safely.

A checkpoint is a ``state_dict`` (a dict of tensors), never a pickled model: it loads with ``weights_only=True``,
which cannot run arbitrary code, and it survives refactoring of the model class. Writes are atomic: the file
appears complete or not at all, even if the kernel dies mid-write.

Nothing corrupted loads silently: ``save_checkpoint`` stores a sha256 of the tensors (their names, dtypes, shapes
and bytes) as an attribute of the saved ``OrderedDict``, which ``torch.load(path, weights_only=True)`` restores and
``load_checkpoint`` checks, so a flipped bit on disk is an error naming the file. A checkpoint written without that
sha256 (by ``torch.save``, or before it was stored) still loads, but no tensor of any checkpoint may hold NaN or inf.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from utils.device import check_available
from utils.paths import atomic_write

CHECKSUM_ATTRIBUTE = "checkpoint_sha256"  # the attribute of the saved OrderedDict that holds tensors_sha256(state)


def _tensor_bytes(tensor: Tensor) -> memoryview:
    tensor = tensor.detach().cpu()
    if tensor.layout != torch.strided:
        tensor = tensor.to_dense()
    tensor = tensor.resolve_conj().resolve_neg().reshape(-1).contiguous()
    return memoryview(tensor.view(torch.uint8).numpy())


def tensors_sha256(state: Mapping[str, Tensor]) -> str:
    """The lowercase hex sha256 of a state dict's names, dtypes, shapes and tensor bytes, in order."""
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(_tensor_bytes(tensor))
    return digest.hexdigest()


def _first_non_finite(state: Mapping[str, Tensor]) -> str | None:
    """The name of the first floating-point tensor holding NaN or inf, or ``None``."""
    for name, tensor in state.items():
        if (tensor.is_floating_point() or tensor.is_complex()) and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def save_checkpoint(weights: nn.Module | Mapping[str, Tensor], path: str | os.PathLike[str]) -> Path:
    """Write a module's ``state_dict()`` (or a state dict itself) to ``path`` atomically, with the sha256 of its
    tensors; return the path. Weights holding NaN or inf (a diverged run) are refused with ``ValueError``."""
    state = weights.state_dict() if isinstance(weights, nn.Module) else weights
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise TypeError(
            "save_checkpoint takes an nn.Module or a state dict {name: tensor}, not " + type(weights).__name__
        )
    stored = OrderedDict((k, v.detach().cpu()) for k, v in state.items())
    bad = _first_non_finite(stored)
    if bad is not None:
        raise ValueError(
            f"not saving {path}: {bad!r} holds NaN or infinite values (the training diverged); "
            "lower the learning rate or restart from the last good checkpoint"
        )
    setattr(stored, CHECKSUM_ATTRIBUTE, tensors_sha256(stored))
    buffer = io.BytesIO()
    torch.save(stored, buffer)
    return atomic_write(Path(path), buffer.getvalue())


def _target_device(map_location: str | torch.device) -> torch.device:
    """``map_location`` as a device this machine has: ``ValueError`` for an unknown one, ``RuntimeError`` for a
    missing one (never mistaken for a corrupt file)."""
    try:
        device = torch.device(map_location.strip().lower() if isinstance(map_location, str) else map_location)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"map_location must be a device such as 'cpu', 'cuda', 'cuda:0' or 'mps', got {map_location!r}"
        ) from err
    check_available(device, "load_checkpoint(map_location=...)")
    return device


def load_checkpoint(
    path: str | os.PathLike[str], model: nn.Module | None = None, map_location: str | torch.device = "cpu"
) -> dict[str, Tensor]:
    """Load a state dict with ``weights_only=True`` onto ``map_location``; if ``model`` is given, load it into the
    model (strictly).

    Raises ``FileNotFoundError`` for a missing file; ``ValueError`` for a file that is not a state dict, is
    corrupted (its tensors do not match the sha256 stored when it was saved, or hold NaN or inf) or does not fit
    ``model``; ``ValueError`` for an unknown ``map_location`` and ``RuntimeError`` for one this machine lacks.
    """
    path = Path(path)
    device = _target_device(map_location)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train the model first (or check the path).")
    try:  # on the CPU first: the checks below read the bytes, and a GPU-saved file loads on any machine
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise ValueError(f"{path} is not a loadable weights-only checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    expected = getattr(state, "__dict__", {}).pop(CHECKSUM_ATTRIBUTE, None)
    if expected is not None and tensors_sha256(state) != expected:
        raise ValueError(
            f"{path} is corrupted: its tensors differ from the sha256 stored when it was saved (damaged on disk or "
            "in a copy). Save or train the model again; if you changed its tensors yourself, save them with "
            "utils.checkpoint.save_checkpoint, not torch.save."
        )
    bad = _first_non_finite(state)
    if bad is not None:
        raise ValueError(
            f"{path} is corrupted or was saved from a diverged run: {bad!r} holds NaN or infinite values. "
            "Save or train the model again."
        )
    if device.type != "cpu":
        try:
            state = OrderedDict((k, v.to(device)) for k, v in state.items())
        except RuntimeError as err:
            raise RuntimeError(f"could not move the weights of {path} to {device}: {err}") from err
    if model is not None:
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(f"{path} does not fit {type(model).__name__}: {err}") from err
    return state
