"""A small, general training loop: mini-batches from in-memory tensors, a progress bar and a loss history.

The loop is written out in full once, in chapter 01; this is the tested version later chapters call. It makes no
assumption about the model: ``loss_fn(model, *batch)`` returns the scalar to minimise, so the same ``fit`` trains a
classifier (``classification_loss``), a VAE (the negative ELBO) or a language model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from utils.data import minibatches

LossFn = Callable[..., Tensor]  # loss_fn(model, *batch) -> scalar tensor
EvalFn = Callable[[nn.Module], dict[str, float]]  # eval_fn(model) -> {"val_accuracy": 0.97, ...}


@dataclass
class History:
    """What happened during ``fit``.

    ``step_loss`` holds the training loss of every optimisation step; ``epochs`` holds one dict per epoch with its
    mean training loss (``"train_loss"``) and whatever ``eval_fn`` returned; ``seconds`` is the wall time of training.
    """

    step_loss: list[float] = field(default_factory=list)
    epochs: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    def metric(self, name: str) -> list[float]:
        """The per-epoch values of one metric, e.g. ``history.metric("val_accuracy")``."""
        if not self.epochs or name not in self.epochs[-1]:
            known = sorted(self.epochs[-1]) if self.epochs else []
            raise KeyError(f"no per-epoch metric {name!r}; recorded: {known}")
        return [epoch[name] for epoch in self.epochs]


def classification_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy (nats) of ``model(x)`` (logits ``[B, C]``) against integer labels ``y`` ``[B]``."""
    return F.cross_entropy(model(x), y)


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    data: Sequence[Tensor],
    *,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    eval_fn: EvalFn | None = None,
    generator: torch.Generator | None = None,
    max_grad_norm: float | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``data`` and return its ``History``.

    ``data`` is a sequence of tensors sharing their first dimension (e.g. ``(x, y)``), already on the model's device;
    each step draws a shuffled mini-batch of ``batch_size`` rows and minimises ``loss_fn(model, *batch)``.
    ``scheduler`` (if any) is stepped after every optimisation step; ``eval_fn(model)`` is called after every epoch
    with the model in eval mode and under ``torch.no_grad()``. A non-finite loss stops training with an error.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    data = tuple(data)
    if not data or data[0].shape[0] == 0:
        raise ValueError("fit needs at least one training example")
    steps_per_epoch = math.ceil(data[0].shape[0] / batch_size)
    history = History()
    start = time.perf_counter()
    bar = tqdm(total=epochs * steps_per_epoch, desc="training", unit="step", disable=not progress, mininterval=0.5)
    try:
        for epoch in range(epochs):
            model.train()
            total, count = 0.0, 0
            for batch in minibatches(*data, batch_size=batch_size, shuffle=True, generator=generator):
                loss = loss_fn(model, *batch)
                value = loss.item()  # the one host sync per step
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"loss became {value} at epoch {epoch + 1}, step {len(history.step_loss) + 1}: "
                        "lower the learning rate or check the inputs for NaNs."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                history.step_loss.append(value)
                total += value * batch[0].shape[0]
                count += batch[0].shape[0]
                bar.update(1)
            record = {"epoch": float(epoch + 1), "train_loss": total / count}
            if eval_fn is not None:
                model.eval()
                with torch.no_grad():
                    record.update(eval_fn(model))
            history.epochs.append(record)
            bar.set_postfix({k: round(v, 4) for k, v in record.items() if k != "epoch"})
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    model.eval()
    return history
