"""A small, general training loop: mini-batches from in-memory tensors, a progress bar and a loss history.

The loop is written out in full once, in chapter 01; this is the tested version later chapters call. It makes no
assumption about the model: ``loss_fn(model, *batch)`` returns the scalar to minimise, so the same ``fit`` trains a
classifier (``classification_loss``), a VAE (the negative ELBO) or a language model. ``fit`` passes over tensors
in epochs; ``train_steps`` runs a fixed number of steps on batches drawn by a function (random windows of a text).
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
from utils.distributed import check_shard, shard_rows, unwrap
from utils.text import random_windows

LossFn = Callable[..., Tensor]  # loss_fn(model, *batch) -> scalar tensor
EvalFn = Callable[[nn.Module], dict[str, float]]  # eval_fn(model) -> {"val_accuracy": 0.97, ...}


@dataclass
class History:
    """What happened during ``fit``.

    ``step_loss`` holds the training loss of every optimisation step; ``epochs`` holds one dict per epoch (``fit``) or
    per evaluation (``train_steps``) with the mean training loss since the previous one (``"train_loss"``) and
    whatever ``eval_fn`` returned; ``seconds`` is the wall time of training.
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


def _check_training_arguments(
    model: nn.Module, optimizer: torch.optim.Optimizer, max_grad_norm: float | None
) -> None:
    """Once, before training: an optimizer that updates at least one of ``model``'s parameters, a usable clip."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    own = {id(p) for p in model.parameters()}
    if not any(id(p) in own for group in optimizer.param_groups for p in group["params"]):
        raise ValueError(
            "the optimizer updates none of the model's parameters (was it built for another model, or before the "
            "model was rebuilt?): pass optimizer=torch.optim.AdamW(model.parameters(), ...) for this model"
        )
    if max_grad_norm is not None and not (math.isfinite(max_grad_norm) and max_grad_norm > 0):
        raise ValueError(f"max_grad_norm must be a positive number (or None: no clipping), got {max_grad_norm}")


def _optimisation_step(
    model: nn.Module,
    loss_fn: LossFn,
    batch: Sequence[Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    max_grad_norm: float | None,
    where: str,
) -> float:
    """One step on ``batch``: loss, backward, optional clipping, optimizer and scheduler; returns the loss."""
    loss = loss_fn(model, *batch)
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        got = f"shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar tensor (the mean loss of the batch), got {got}")
    value = loss.item()  # the one host sync per step
    if not math.isfinite(value):
        raise FloatingPointError(
            f"loss became {value} at {where}: lower the learning rate or check the inputs for NaNs."
        )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return value


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
    if isinstance(data, Tensor) or not all(isinstance(t, Tensor) for t in data):
        got = "one tensor" if isinstance(data, Tensor) else f"{[type(t).__name__ for t in data]}"
        raise TypeError(f"data must be a sequence of tensors such as (x, y) or (x,), got {got}")
    data = tuple(data)
    if not data or data[0].shape[0] == 0:
        raise ValueError("fit needs at least one training example")
    for i, t in enumerate(data):  # once, here: a NaN in the last batch would otherwise surface epochs later
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError(f"data[{i}] contains NaN or infinite values")
    _check_training_arguments(model, optimizer, max_grad_norm)
    steps_per_epoch = math.ceil(data[0].shape[0] / batch_size)
    history = History()
    start = time.perf_counter()
    bar = tqdm(total=epochs * steps_per_epoch, desc="training", unit="step", disable=not progress, mininterval=0.5)
    try:
        for epoch in range(epochs):
            model.train()
            total, count = 0.0, 0
            for batch in minibatches(*data, batch_size=batch_size, shuffle=True, generator=generator):
                where = f"epoch {epoch + 1}, step {len(history.step_loss) + 1}"
                value = _optimisation_step(model, loss_fn, batch, optimizer, scheduler, max_grad_norm, where)
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


def train_steps(
    model: nn.Module,
    loss_fn: LossFn,
    next_batch: Callable[[], Sequence[Tensor]],
    *,
    optimizer: torch.optim.Optimizer,
    steps: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    eval_every: int | None = None,
    eval_fn: EvalFn | None = None,
    max_grad_norm: float | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` for ``steps`` optimisation steps on batches from ``next_batch()`` and return its ``History``.

    For data drawn at random rather than in epochs (windows of a long text): each step minimises
    ``loss_fn(model, *next_batch())``. Every ``eval_every`` steps and after the last one, ``history.epochs`` gets a
    record with ``"step"``, the mean ``"train_loss"`` since the previous record, ``"train_seconds"`` (training time so
    far, evaluation excluded) and whatever ``eval_fn(model)`` returns (called in eval mode, under ``torch.no_grad()``).
    ``after_step(model)``, if given, runs after every optimisation step (to update an EMA of the weights).
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if eval_every is not None and eval_every < 1:
        raise ValueError(f"eval_every must be at least 1, got {eval_every}")
    _check_training_arguments(model, optimizer, max_grad_norm)
    history = History()
    start = time.perf_counter()
    train_seconds, since_record = 0.0, []
    bar = tqdm(total=steps, desc="training", unit="step", disable=not progress, mininterval=0.5)
    try:
        model.train()
        for step in range(1, steps + 1):
            step_start = time.perf_counter()
            value = _optimisation_step(
                model, loss_fn, next_batch(), optimizer, scheduler, max_grad_norm, f"step {step}"
            )
            if after_step is not None:
                after_step(model)
            train_seconds += time.perf_counter() - step_start
            history.step_loss.append(value)
            since_record.append(value)
            bar.update(1)
            if step == steps or (eval_every is not None and step % eval_every == 0):
                record = {"step": float(step), "train_loss": sum(since_record) / len(since_record)}
                record["train_seconds"] = train_seconds
                if eval_fn is not None:
                    model.eval()
                    with torch.no_grad():
                        record.update(eval_fn(model))
                    model.train()
                history.epochs.append(record)
                since_record = []
                bar.set_postfix({k: round(v, 4) for k, v in record.items() if k not in ("step", "train_seconds")})
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    model.eval()
    return history


def cosine_with_warmup(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_lr_fraction: float = 0.1
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the optimizer's learning rate over ``warmup_steps``, then a cosine decay to
    ``min_lr_fraction`` of it at ``total_steps`` (and constant after). Step it once per optimisation step."""
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"need 0 <= warmup_steps < total_steps, got {warmup_steps} and {total_steps}")
    if not 0 <= min_lr_fraction <= 1:
        raise ValueError(f"min_lr_fraction must be in [0, 1], got {min_lr_fraction}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
        return min_lr_fraction + (1 - min_lr_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def warmup_stable_decay(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, decay_fraction: float = 0.3
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_steps``, the full learning rate, then a linear decay to 0 over the last
    ``decay_fraction`` of ``total_steps`` ("WSD"). Step it once per optimisation step."""
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"need 0 <= warmup_steps < total_steps, got {warmup_steps} and {total_steps}")
    if not 0 < decay_fraction <= 1:
        raise ValueError(f"decay_fraction must be in (0, 1], got {decay_fraction}")
    decay_start = total_steps * (1 - decay_fraction)

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
        decay = min(1.0, max(0.0, (total_steps - step) / (total_steps - decay_start)))
        return min(warm, decay)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def adamw(
    model: nn.Module,
    lr: float,
    weight_decay: float = 0.1,
    betas: tuple[float, float] = (0.9, 0.99),
    embedding_lr_multiplier: float = 1.0,
) -> torch.optim.AdamW:
    """AdamW in three parameter groups: weight matrices (decayed), biases and normalisation gains (not decayed), and
    the weights of ``nn.Embedding`` layers (not decayed, learning rate ``lr * embedding_lr_multiplier``).

    An embedding row only gets a gradient when its token occurs, and Adam's step per update is bounded by the
    learning rate, so a larger rate for embeddings lets them keep pace with the layers that see every token.
    """
    if not (math.isfinite(embedding_lr_multiplier) and embedding_lr_multiplier > 0):
        raise ValueError(f"embedding_lr_multiplier must be a positive number, got {embedding_lr_multiplier}")
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if p.dim() >= 2 and id(p) not in embeddings], "weight_decay": weight_decay},
        {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0},
        {
            "params": [p for p in trainable if id(p) in embeddings],
            "weight_decay": 0.0,
            "lr": lr * embedding_lr_multiplier,
        },
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=betas)


_SCHEDULES = ("wsd", "cosine")


@dataclass
class StreamTrainConfig:
    """How to train a language model on one long token stream: random windows, AdamW and a learning-rate schedule.

    The defaults are chapter 06's CPU recipe for Tiny Shakespeare characters.
    """

    block_size: int = 64  # characters per window
    batch_size: int = 32  # windows per step
    steps: int = 2600
    max_lr: float = 6e-3
    embedding_lr_multiplier: float = 10.0
    weight_decay: float = 0.1
    warmup_steps: int = 100
    schedule: str = "wsd"  # "wsd": warm-up, stable, linear decay to 0; "cosine": warm-up, cosine to min_lr_fraction
    decay_fraction: float = 0.3  # wsd: the share of steps spent decaying
    min_lr_fraction: float = 0.1  # cosine: where the decay ends, as a fraction of max_lr
    max_grad_norm: float = 1.0


def stream_scheduler(optimizer: torch.optim.Optimizer, config: StreamTrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning-rate schedule ``config`` names, for ``config.steps`` steps."""
    if config.schedule == "wsd":
        return warmup_stable_decay(optimizer, config.warmup_steps, config.steps, config.decay_fraction)
    if config.schedule == "cosine":
        return cosine_with_warmup(optimizer, config.warmup_steps, config.steps, config.min_lr_fraction)
    raise ValueError(f"unknown schedule {config.schedule!r}; choose one of {', '.join(_SCHEDULES)}")


def train_on_stream(
    model: nn.Module,
    loss_fn: LossFn,
    ids: Tensor,
    config: StreamTrainConfig,
    *,
    generator: torch.Generator | None = None,
    eval_every: int | None = None,
    eval_fn: EvalFn | None = None,
    progress: bool = True,
    shard: tuple[int, int] = (0, 1),
) -> History:
    """Train ``model`` on windows drawn at random from the token stream ``ids`` ``[N]`` (on the model's device).

    Each step minimises ``loss_fn(model, x, y)`` on ``config.batch_size`` windows ``x``, ``y`` ``[B, block_size]``
    (``utils.text.random_windows``, seeded by the CPU ``generator``), with ``adamw`` and ``stream_scheduler``;
    ``eval_every`` and ``eval_fn`` are as in ``train_steps``. A model with a ``config.block_size`` (a GPT) must be
    trained on windows of that length: shorter ones would leave its last position embeddings untrained.

    In data-parallel training (chapter 13) ``shard=(rank, world_size)``: every rank draws the same global batch from
    an equally seeded ``generator`` and trains on its contiguous rows (``utils.distributed.shard_rows``), so N ranks
    together take exactly the steps one process would take on the global batch.
    """
    rank, world_size = shard
    rows = shard_rows(config.batch_size, rank, world_size)
    check_shard(model, rank, world_size)
    context = getattr(getattr(unwrap(model), "config", None), "block_size", None)
    if context is not None and context != config.block_size:
        raise ValueError(
            f"training windows of {config.block_size} tokens for a model with block_size {context}: positions "
            f"{min(context, config.block_size)}.. would never be trained; make the two equal"
        )
    optimizer = adamw(model, config.max_lr, config.weight_decay, embedding_lr_multiplier=config.embedding_lr_multiplier)
    scheduler = stream_scheduler(optimizer, config)
    return train_steps(
        model,
        loss_fn,
        lambda: [part[rows] for part in random_windows(ids, config.block_size, config.batch_size, generator)],
        optimizer=optimizer,
        scheduler=scheduler,
        steps=config.steps,
        eval_every=eval_every,
        eval_fn=eval_fn,
        max_grad_norm=config.max_grad_norm,
        progress=progress,
    )
