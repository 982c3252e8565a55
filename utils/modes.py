"""Switching a model to eval mode for a while, and back to the mode it was in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``with eval_mode(model):`` runs the block with ``model`` in eval mode (dropout off, batch-norm running
    statistics), then restores the train/eval mode of every submodule, even if the block raised."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"eval_mode takes an nn.Module, got {type(model).__name__}")
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training
