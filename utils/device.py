"""Picking the device a chapter runs on: CUDA, then Apple MPS, then the CPU.

Set ``COURSE_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) to override the automatic choice, for example to
check that a notebook still runs on the CPU on a machine with a GPU.
"""

from __future__ import annotations

import os
from typing import TypeVar

import torch

T = TypeVar("T")

DEVICE_ENV = "COURSE_DEVICE"
_KNOWN_TYPES = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def check_available(device: torch.device, source: str = "device") -> None:
    """Raise ``RuntimeError`` saying what to do if ``device`` (CUDA or MPS) is missing on this machine.

    ``source`` names what asked for it in the message, e.g. ``"load_checkpoint(map_location=...)"``.
    """
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"{source} asks for {device}, but this PyTorch sees no CUDA GPU "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}). "
            "Install a CUDA build of PyTorch, or choose 'cpu'."
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(f"{source} asks for {device}, but only {torch.cuda.device_count()} CUDA device(s) exist.")
    if device.type == "mps" and not _mps_available():
        raise RuntimeError(f"{source} asks for 'mps', but Apple's Metal backend is not available here; choose 'cpu'.")


def parse_device(name: str, source: str = "device") -> torch.device:
    """Turn ``'cpu'``, ``'cuda'``, ``'cuda:0'`` or ``'mps'`` into an available ``torch.device``.

    Raises ``ValueError`` for an unknown name and ``RuntimeError`` for a known device this machine lacks.
    """
    try:
        device = torch.device(name.strip().lower())
    except RuntimeError as err:
        raise ValueError(
            f"{source}: unknown device {name!r}; use one of {', '.join(_KNOWN_TYPES)} (e.g. 'cuda:0')."
        ) from err
    if device.type not in _KNOWN_TYPES:
        raise ValueError(f"{source}: unsupported device {name!r}; use one of {', '.join(_KNOWN_TYPES)}.")
    check_available(device, source)
    return device


def get_device(prefer: str | None = None) -> torch.device:
    """The device to compute on.

    Order: the argument ``prefer`` if given, else ``$COURSE_DEVICE`` if set, else CUDA, then MPS, then the CPU.
    """
    if prefer is not None:
        return parse_device(prefer, "get_device(prefer=...)")
    env_value = os.environ.get(DEVICE_ENV, "").strip()
    if env_value:
        return parse_device(env_value, f"${DEVICE_ENV}")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def for_device(device: torch.device | str, *, cpu: T, cuda: T) -> T:
    """A chapter's setting for ``device``: ``cuda`` on a CUDA GPU, ``cpu`` everywhere else.

    The ``cpu`` setting is tuned to finish in minutes on a 2-core laptop; the ``cuda`` one trains a larger model for
    longer, as a GPU allows. Apple's MPS gets the ``cpu`` setting: it runs it faster than a laptop CPU, but the
    larger settings assume a CUDA card. ``COURSE_DEVICE=cpu`` on a GPU machine therefore also selects ``cpu``.
    """
    return cuda if torch.device(device).type == "cuda" else cpu


def describe_device(device: torch.device) -> str:
    """A one-line description, e.g. ``'cuda (NVIDIA H200)'`` or ``'cpu (2 threads)'``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type
