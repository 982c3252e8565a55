"""The registry of shipped, trained models: entries, ``register``, ``info``, ``load``, and ``ship`` for training scripts.

An entry says how to build the model, which file holds its ``state_dict`` (under ``utils/weights/``, verified by
sha256 and loaded with ``weights_only=True``), the command and recipe that reproduce the file, and the number its
chapter states together with a function that measures it, so that a test can prove every shipped file still meets
it. This module imports no model: each model's module (or ``utils.pretrained``, the catalogue) registers its entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from utils.checkpoint import load_checkpoint, save_checkpoint
from utils.download import sha256_of, verify_checksum

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class Pretrained:
    """One shipped model."""

    name: str
    description: str
    build: Callable[[], nn.Module]  # a fresh, untrained model of the right architecture
    filename: str  # under utils/weights/
    sha256: str
    size: int  # bytes
    trained_by: str  # the command that reproduces the file
    metric: str  # what ``measure`` returns, e.g. "MNIST test accuracy"
    target: float  # the number its chapter states
    higher_is_better: bool
    measure: Callable[[nn.Module], float]  # evaluates a loaded model on CPU
    recipe: Any = None  # the training recipe the script passes to its training function (a config dataclass)
    float16: bool = False  # floating-point weights stored in float16 (half the file; computed in float32)
    # submodules that ``build`` fills with another shipped model (the VAE inside a latent flow): their weights live
    # in that model's file and are not stored again in this one
    borrowed: tuple[str, ...] = ()

    def is_borrowed(self, key: str) -> bool:
        """Whether the ``state_dict`` key ``key`` belongs to a borrowed submodule."""
        return any(key.startswith(part + ".") for part in self.borrowed)

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.filename

    def meets_target(self, value: float) -> bool:
        return value >= self.target if self.higher_is_better else value <= self.target


_REGISTRY: dict[str, Pretrained] = {}


def register(entry: Pretrained) -> Pretrained:
    """Add a model to the registry and return its entry; names are unique."""
    if entry.name in _REGISTRY:
        raise ValueError(f"a pretrained model named {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def names() -> list[str]:
    """The names of all registered models, sorted."""
    return sorted(_REGISTRY)


def info(name: str) -> Pretrained:
    """The registry entry of ``name``; ``ValueError`` listing the known names otherwise."""
    if name not in _REGISTRY:
        raise ValueError(f"no pretrained model {name!r}; available: {', '.join(names()) or '(none)'}")
    return _REGISTRY[name]


def load(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """The shipped model ``name`` with its trained weights, on ``device``, in eval mode."""
    entry = info(name)
    if not entry.path.is_file():
        raise FileNotFoundError(
            f"the weights of {name!r} are missing ({entry.path}); restore them with `git checkout -- {entry.path.name}` "
            f"in utils/weights/ or retrain them with `{entry.trained_by}`."
        )
    verify_checksum(
        entry.path, entry.sha256, entry.size, remedy=f"Restore it with git, or retrain it with `{entry.trained_by}`."
    )
    model = entry.build()
    if entry.borrowed:
        load_stored_state(entry, model, load_checkpoint(entry.path, map_location=device))
    else:
        load_checkpoint(entry.path, model, map_location=device)
    return model.to(device).eval()


def load_stored_state(entry: Pretrained, model: nn.Module, state: Mapping[str, Tensor]) -> None:
    """Load ``state`` (as the entry's file holds it) into ``model``: every key must match, except that the keys of
    the entry's borrowed submodules are absent (``build`` already filled them); ``ValueError`` otherwise."""
    result = model.load_state_dict(state, strict=not entry.borrowed)
    missing = [key for key in result.missing_keys if not entry.is_borrowed(key)]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"the weights do not fit {entry.name!r}: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}"
        )


class BelowTargetError(RuntimeError):
    """Freshly trained weights that miss their entry's target: they are not written."""


@dataclass(frozen=True)
class Shipped:
    """What ``ship`` wrote: the file, its size and sha256 (for the registry entry), and the measured value."""

    path: Path
    size: int  # bytes
    sha256: str
    value: float  # the entry's metric, measured on exactly the stored weights

    def entry_fields(self) -> str:
        """The line to paste into the registry entry."""
        return f'sha256="{self.sha256}", size={self.size},'


def stored_state(entry: Pretrained, weights: nn.Module | Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The ``state_dict`` as the file will hold it: on the CPU, floating-point tensors in float16 if the entry says,
    without the entry's borrowed submodules."""
    state = weights.state_dict() if isinstance(weights, nn.Module) else weights
    stored = {}
    for key, value in state.items():
        if entry.is_borrowed(key):
            continue
        value = value.detach().cpu()
        stored[key] = value.half() if entry.float16 and value.is_floating_point() else value
    return stored


def ship(entry: Pretrained, weights: nn.Module | Mapping[str, Tensor], out: str | Path | None = None) -> Shipped:
    """Measure the weights exactly as they would be stored, and write them only if they meet the entry's target.

    The stored state (``stored_state``) is loaded into a fresh ``entry.build()`` and measured with
    ``entry.measure``; below target, ``BelowTargetError`` is raised and nothing is written. Otherwise the file is
    written atomically to ``out`` (default: the entry's own path under ``utils/weights/``).
    """
    state = stored_state(entry, weights)
    model = entry.build()
    load_stored_state(entry, model, state)  # float16 values into the float32 model: the numbers that ship
    value = entry.measure(model.eval())
    if not entry.meets_target(value):
        direction = "at least" if entry.higher_is_better else "at most"
        raise BelowTargetError(
            f"{entry.name}: {entry.metric} is {value:.4f}, its target is {direction} {entry.target}; "
            "the weights were not written (train longer or fix the recipe)"
        )
    path = save_checkpoint(state, out or entry.path)
    return Shipped(path, path.stat().st_size, sha256_of(path), value)


def ship_or_exit(entry: Pretrained, weights: nn.Module | Mapping[str, Tensor], out: str | Path | None = None) -> Shipped:
    """For the training scripts: ``ship``, then print the measured value, the file and the fields to paste into the
    registry entry; below target, exit with the reason (status 1) and write nothing."""
    try:
        shipped = ship(entry, weights, out)
    except BelowTargetError as err:
        raise SystemExit(f"not shipped: {err}") from None
    print(f"{entry.metric}: {shipped.value:.4f} (target {entry.target})")
    print(f"wrote {shipped.path}; paste into the registry entry of {entry.name!r}: {shipped.entry_fields()}")
    return shipped
