"""The training recipes of the course's shipped image models, each written once: a config dataclass and a function.

A chapter calls the function with its laptop (or GPU) settings; the script that trains the shipped weights calls the
same function with the recipe stored in the model's registry entry. (The GPT's recipe is ``utils.train``'s
``StreamTrainConfig`` and ``train_on_stream``.)

- ``ClassifierRecipe`` / ``train_classifier``: chapter 02's CNN and the course's MNIST evaluator.
- ``DCGANRecipe`` / ``train_dcgan``: chapter 04's DCGAN and the shipped ``dcgan-mnist``.
- ``VAERecipe`` / ``train_vae``: chapter 05's VAE and the shipped ``vae-mnist``.
- ``FlowMatchingRecipe`` / ``train_flow_matching``: chapter 07's pixel and latent flow models and the shipped
  ``diffusion-mnist``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from utils.augment import random_shift
from utils.flow import flow_matching_loss
from utils.flow_models import FlowGenerator
from utils.gan import EMA, GANHistory, ImageGenerator, train_gan
from utils.train import EvalFn, History, cosine_with_warmup, fit, train_steps
from utils.vae import VAE, dynamic_binarize, elbo


@dataclass(frozen=True)
class ClassifierRecipe:
    """AdamW with a one-cycle schedule on randomly shifted digits; the defaults are chapter 02's CPU recipe."""

    epochs: int = 3
    batch_size: int = 128
    max_lr: float = 3e-3
    weight_decay: float = 5e-4
    max_shift: int = 2  # pixels of random translation per image and step (0 = off)


def train_classifier(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    recipe: ClassifierRecipe,
    *,
    generator: torch.Generator | None = None,
    shift_generator: torch.Generator | None = None,
    eval_fn: EvalFn | None = None,
    progress: bool = True,
) -> History:
    """Train a classifier (logits ``[B, C]``) on ``images`` ``[N, 1, H, W]`` and integer ``labels`` ``[N]``.

    ``generator`` shuffles the batches; ``shift_generator`` (default: the same) draws the random shifts.
    """
    shift_generator = shift_generator or generator
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay)
    steps = recipe.epochs * math.ceil(len(images) / recipe.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.max_lr, total_steps=steps)

    def shifted_loss(net: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(net(random_shift(x, recipe.max_shift, generator=shift_generator)), y)

    return fit(model, shifted_loss, (images, labels), optimizer=optimizer, scheduler=scheduler, epochs=recipe.epochs,
               batch_size=recipe.batch_size, eval_fn=eval_fn, generator=generator, progress=progress)


@dataclass(frozen=True)
class DCGANRecipe:
    """Adam (beta1 = 0.5) for both networks and an EMA of the generator; the defaults are chapter 04's CPU recipe."""

    epochs: int = 3
    batch_size: int = 64
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    loss: str = "bce"  # "bce" (non-saturating) or "hinge"
    ema_decay: float | None = 0.995  # None: no EMA, sample from the trained generator itself


def train_dcgan(
    generator: ImageGenerator,
    discriminator: nn.Module,
    images: Tensor,
    recipe: DCGANRecipe,
    *,
    labels: Tensor | None = None,
    rng: torch.Generator | None = None,
    fixed_noise: Tensor | None = None,
    snapshot_every: int | None = None,
    progress: bool = True,
) -> tuple[ImageGenerator, GANHistory]:
    """Train a GAN on ``images`` ``[N, 1, 28, 28]`` in [0, 1] (with ``labels`` ``[N]`` if it is class-conditional).

    Returns the generator to sample from (the EMA of the weights if the recipe keeps one, in eval mode) and the
    history of ``utils.gan.train_gan`` (``fixed_noise`` and ``snapshot_every`` as there).
    """
    ema = EMA(generator, recipe.ema_decay) if recipe.ema_decay is not None else None
    history = train_gan(generator, discriminator, images, labels=labels, epochs=recipe.epochs,
                        batch_size=recipe.batch_size, lr_g=recipe.lr_g, lr_d=recipe.lr_d, loss=recipe.loss, ema=ema,
                        fixed_noise=fixed_noise, snapshot_every=snapshot_every, rng=rng, progress=progress)
    return (ema.model if ema is not None else generator), history


@dataclass(frozen=True)
class VAERecipe:
    """Adam with a one-cycle schedule on digits binarised afresh every step; the defaults are chapter 05's."""

    epochs: int = 16
    batch_size: int = 128
    max_lr: float = 2e-3
    warmup_fraction: float = 0.1  # share of the steps spent raising the learning rate to max_lr
    beta: float = 1.0  # weight of the KL term (1 = the ELBO; > 1 = beta-VAE)


def train_vae(
    model: VAE,
    images: Tensor,
    recipe: VAERecipe,
    *,
    labels: Tensor | None = None,
    generator: torch.Generator | None = None,
    eval_fn: EvalFn | None = None,
    progress: bool = True,
) -> History:
    """Train a VAE on ``images`` ``[N, 1, 28, 28]`` in [0, 1] (with ``labels`` ``[N]`` if it is conditional),
    minimising the negative ELBO (nats per image) of a fresh binarisation of each batch.

    ``generator`` (a CPU generator) shuffles the batches and draws the binarisations.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.max_lr)
    steps = recipe.epochs * math.ceil(len(images) / recipe.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.max_lr, total_steps=steps,
                                                    pct_start=recipe.warmup_fraction)
    data = (images,) if labels is None else (images, labels)

    def loss_fn(m: VAE, x: Tensor, *y: Tensor) -> Tensor:
        return -elbo(m, dynamic_binarize(x, generator=generator), *y, beta=recipe.beta).value.mean()

    return fit(model, loss_fn, data, optimizer=optimizer, epochs=recipe.epochs, batch_size=recipe.batch_size,
               scheduler=scheduler, eval_fn=eval_fn, generator=generator, progress=progress)


@dataclass(frozen=True)
class FlowMatchingRecipe:
    """Adam with warm-up and cosine decay on random batches, the flow-matching loss, an EMA of the weights.

    The defaults are chapter 07's pixel-space CPU recipe.
    """

    steps: int = 1000
    batch_size: int = 128
    lr: float = 2e-3
    warmup_steps: int = 50
    ema_decay: float = 0.999  # ramped up from 0.1 over the first steps: min(ema_decay, (1 + k) / (10 + k))
    label_dropout: float = 0.1  # class-conditional models: share of labels replaced by "no label" (for guidance)


def train_flow_matching(
    model: FlowGenerator,
    images: Tensor,
    recipe: FlowMatchingRecipe,
    *,
    labels: Tensor | None = None,
    generator: torch.Generator | None = None,
    eval_every: int | None = None,
    eval_fn: EvalFn | None = None,
    progress: bool = True,
) -> History:
    """Train ``model``'s velocity network on ``images`` ``[N, 1, 28, 28]`` in [0, 1] (with ``labels`` ``[N]`` if
    it is class-conditional) by flow matching, then load the EMA of its weights into it (in eval mode).

    The images are mapped to the model's space once (pixels to [-1, 1], or VAE codes); ``generator`` (a CPU
    generator) draws the batches, times and noise. Every ``eval_every`` steps ``eval_fn(velocity)`` is called with
    the EMA network (in eval mode, without gradients) and its numbers land in the history.
    """
    if (labels is None) != (model.num_classes == 0):
        raise ValueError("pass labels [N] exactly when the model is class-conditional "
                         f"(this one has num_classes={model.num_classes})")
    device = next(model.velocity.parameters()).device
    data = model.to_model_space(images.to(device))
    if labels is not None:
        if labels.shape != (len(images),):
            raise ValueError(f"expected labels [{len(images)}], got shape {tuple(labels.shape)}")
        labels = labels.to(device)
    velocity = model.velocity
    optimizer = torch.optim.Adam(velocity.parameters(), lr=recipe.lr)
    scheduler = cosine_with_warmup(optimizer, recipe.warmup_steps, recipe.steps, min_lr_fraction=0.0)
    ema = EMA(velocity, recipe.ema_decay)
    updates = 0

    def next_batch() -> tuple[Tensor, ...]:
        index = torch.randint(0, len(data), (recipe.batch_size,), generator=generator).to(device)
        return (data[index],) if labels is None else (data[index], labels[index])

    def loss_fn(network: nn.Module, x: Tensor, *y: Tensor) -> Tensor:
        return flow_matching_loss(network, x, *y, label_dropout=recipe.label_dropout, generator=generator)

    def update_ema(network: nn.Module) -> None:
        nonlocal updates
        ema.decay = min(recipe.ema_decay, (1 + updates) / (10 + updates))
        ema.update(network)
        updates += 1

    history = train_steps(velocity, loss_fn, next_batch, optimizer=optimizer, steps=recipe.steps, scheduler=scheduler,
                          eval_every=eval_every, eval_fn=(lambda _: eval_fn(ema.model)) if eval_fn else None,
                          after_step=update_ema, progress=progress)
    velocity.load_state_dict(ema.model.state_dict())
    model.eval()
    return history
