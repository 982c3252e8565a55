"""Evaluating classifiers: batched predictions, accuracy, loss and confusion matrices."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from utils.modes import eval_mode


@torch.no_grad()
def predict_logits(model: nn.Module, x: Tensor, batch_size: int = 2048) -> Tensor:
    """``model(x)`` in eval mode and in batches: logits ``[N, C]`` for inputs ``[N, ...]``, on ``x``'s device.

    The model's train/eval mode is restored afterwards.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if x.shape[0] == 0:
        raise ValueError(f"x holds no inputs: got shape {tuple(x.shape)}")
    with eval_mode(model):
        return torch.cat([model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def _check_classes(name: str, t: Tensor, num_classes: int) -> None:
    """Raise ``ValueError`` unless ``t`` holds integer class indices in 0..num_classes - 1."""
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"{name} must be integer class indices, got dtype {t.dtype}")
    if t.numel() and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(
            f"{name} must lie in 0..{num_classes - 1}, got values in {t.min().item()}..{t.max().item()}"
        )


def accuracy(logits: Tensor, labels: Tensor) -> float:
    """Fraction of rows whose arg-max over logits ``[N, C]`` equals the integer label ``[N]``."""
    if logits.dim() != 2 or labels.dim() != 1 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"expected logits [N, C] and labels [N], got {tuple(logits.shape)} and {tuple(labels.shape)}")
    if labels.numel() == 0:
        raise ValueError("accuracy of an empty set is undefined")
    _check_classes("labels", labels, logits.shape[1])
    if not torch.isfinite(logits).all():
        raise ValueError("logits contain NaN or infinite values")
    return (logits.argmax(dim=1) == labels).float().mean().item()


def evaluate_classifier(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 2048) -> dict[str, float]:
    """Mean cross-entropy (nats) and accuracy of ``model`` on inputs ``x`` ``[N, ...]`` with labels ``y`` ``[N]``."""
    logits = predict_logits(model, x, batch_size)
    correct = accuracy(logits, y)  # checks the labels first: cross_entropy would fail with an IndexError
    return {"loss": F.cross_entropy(logits, y).item(), "accuracy": correct}


def confusion_matrix(predictions: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Counts ``[C, C]`` int64: entry ``[i, j]`` is how many examples of true class ``i`` were predicted as ``j``."""
    if predictions.shape != labels.shape or predictions.dim() != 1:
        raise ValueError(
            f"expected predictions and labels of shape [N], got {tuple(predictions.shape)} and {tuple(labels.shape)}"
        )
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    for name, t in (("predictions", predictions), ("labels", labels)):
        _check_classes(name, t, num_classes)
    flat = labels.long() * num_classes + predictions.long()
    return torch.bincount(flat.cpu(), minlength=num_classes * num_classes).reshape(num_classes, num_classes)
