"""Chapter 04's reference GAN for 28x28 digits: a DCGAN generator and discriminator, their losses, and EMA.

Images inside a GAN live in [-1, 1] (the generator ends with tanh); ``to_unit_range`` converts samples to the
course's [0, 1] convention for plotting and for ``utils.metrics``. With ``num_classes > 0`` both networks are
class-conditional: the generator's first batch norm has a gain and bias per class, and the discriminator uses a
projection (an inner product between a label embedding and its features).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from utils.data import minibatches
from utils.digits import check_digit_images
from utils.modes import eval_mode


@dataclass
class GANConfig:
    """Sizes of the DCGAN pair; the defaults train at about a minute per MNIST epoch on a 2-core CPU."""

    latent_dim: int = 64
    width: int = 64  # channels of the generator's 7x7 map; the discriminator mirrors it
    num_classes: int = 0  # > 0: class-conditional
    spectral_norm: bool = False  # constrain each discriminator layer's Lipschitz constant


def to_unit_range(images: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((images + 1) / 2).clamp(0, 1)


def to_gan_range(images: Tensor) -> Tensor:
    """[0, 1] -> [-1, 1]."""
    return images * 2 - 1


def _check_config(config: GANConfig, width: bool = True) -> None:
    """Raise ``ValueError`` for sizes no network can have (``width`` too, for the DCGAN pair, which halves it)."""
    if config.latent_dim < 1:
        raise ValueError(f"latent_dim must be at least 1, got {config.latent_dim}")
    if config.num_classes < 0:
        raise ValueError(f"num_classes must be >= 0 (0: unconditional), got {config.num_classes}")
    if width and config.width < 2:
        raise ValueError(f"width must be at least 2 (the second layer has width // 2 channels), got {config.width}")


def _check_logits(**logits: Tensor) -> None:
    for name, t in logits.items():
        if not isinstance(t, Tensor) or t.dim() != 1:
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{name} must be one logit per image, a tensor [B], got {got}")


def _check_labels(labels: Tensor | None, batch: int, num_classes: int) -> None:
    if num_classes == 0:
        if labels is not None:
            raise ValueError("this model is unconditional: pass no labels (or build it with num_classes > 0)")
        return
    if labels is None:
        raise ValueError(f"this model is class-conditional: pass labels [B] in 0..{num_classes - 1}")
    if labels.shape != (batch,) or labels.dtype != torch.long:
        raise ValueError(f"labels must be int64 of shape [{batch}], got {tuple(labels.shape)} {labels.dtype}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")


class ImageGenerator(nn.Module):
    """What every generator in the chapter shares: noise ``[B, latent_dim]`` (and labels ``[B]``) -> images
    ``[B, 1, 28, 28]`` in [-1, 1], plus ``render``/``sample`` for [0, 1] pictures. Subclasses build their layers in
    ``__init__`` (after ``super().__init__(config)``) and implement ``forward``, starting with ``check_inputs``.
    ``train_gan`` accepts any of them.
    """

    def __init__(self, config: GANConfig):
        super().__init__()
        _check_config(config, width=False)
        self.config = config

    def check_inputs(self, z: Tensor, labels: Tensor | None) -> None:
        """Raise ``ValueError`` for noise that is not ``[B, latent_dim]`` or labels that do not fit the model."""
        if z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"expected noise [B, {self.config.latent_dim}], got shape {tuple(z.shape)}")
        _check_labels(labels, z.shape[0], self.config.num_classes)

    @torch.no_grad()
    def render(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Images ``[B, 1, 28, 28]`` in [0, 1] for given noise ``[B, latent_dim]``, in eval mode (mode restored)."""
        if not torch.isfinite(z).all():
            raise ValueError("noise contains NaN or infinite values")
        device = next(self.parameters()).device
        with eval_mode(self):
            return to_unit_range(self(z.to(device), None if labels is None else labels.to(device)))

    def sample(self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``n`` images ``[n, 1, 28, 28]`` in [0, 1] on the model's device, from noise drawn with ``generator``."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        return self.render(torch.randn(n, self.config.latent_dim, generator=generator), labels)


class Generator(ImageGenerator):
    """The DCGAN generator: noise ``[B, latent_dim]`` (and labels ``[B]``) -> images ``[B, 1, 28, 28]`` in [-1, 1].

    Linear -> [width, 7, 7] -> BN, ReLU -> transposed conv to [width/2, 14, 14] -> BN, ReLU -> transposed conv to
    [1, 28, 28] -> tanh. With ``num_classes > 0`` the first batch norm is *class-conditional*: each class has its
    own gain and bias for the normalised features (initialised to 1 and 0).
    """

    def __init__(self, config: GANConfig | None = None):
        config = config or GANConfig()
        _check_config(config)
        super().__init__(config)
        w = config.width
        self.project = nn.Sequential(  # Linear -> BN -> ReLU (the class gain and bias act between BN and ReLU)
            nn.Linear(config.latent_dim, w * 7 * 7, bias=False),
            nn.BatchNorm1d(w * 7 * 7, affine=not config.num_classes),
            nn.ReLU(),
        )
        if config.num_classes:
            # Why not concatenate a label embedding to the noise? Measured on MNIST after one or two epochs, that
            # generator learned to ignore the noise and drew one image per class (within-class pixel spread 0.02
            # against 0.16 for real digits); class-conditional batch norm kept the spread at 0.13.
            self.class_gain = nn.Embedding(config.num_classes, w * 7 * 7)
            self.class_bias = nn.Embedding(config.num_classes, w * 7 * 7)
            nn.init.ones_(self.class_gain.weight)
            nn.init.zeros_(self.class_bias.weight)
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(w, w // 2, 4, stride=2, padding=1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(w // 2),
            nn.ReLU(),
            nn.ConvTranspose2d(w // 2, 1, 4, stride=2, padding=1),  # 14 -> 28
            nn.Tanh(),
        )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        self.check_inputs(z, labels)
        linear, norm, relu = self.project
        h = norm(linear(z))
        if labels is not None:
            h = h * self.class_gain(labels) + self.class_bias(labels)
        return self.upsample(relu(h).view(-1, self.config.width, 7, 7))


class Discriminator(nn.Module):
    """Images ``[B, 1, 28, 28]`` in [-1, 1] (and labels ``[B]``) -> one real-vs-fake logit per image ``[B]``.

    Two stride-2 convolutions with LeakyReLU(0.2) (28 -> 14 -> 7), then a linear read-out.
    """

    def __init__(self, config: GANConfig | None = None):
        super().__init__()
        self.config = config = config or GANConfig()
        _check_config(config)
        w = config.width
        norm = nn.utils.parametrizations.spectral_norm if config.spectral_norm else (lambda layer: layer)
        self.features = nn.Sequential(
            norm(nn.Conv2d(1, w // 2, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            norm(nn.Conv2d(w // 2, w, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.readout = norm(nn.Linear(w * 7 * 7, 1))
        self.label_embedding = None
        if config.num_classes:
            embedding = nn.Embedding(config.num_classes, w * 7 * 7)
            # Start the class term near zero: nn.Embedding's N(0, 1) initialisation would add a random logit with a
            # standard deviation of about sqrt(w * 7 * 7) times the feature scale and drown the real/fake signal
            # (measured: 77% conditional accuracy after one MNIST epoch, against 98% with this initialisation).
            nn.init.normal_(embedding.weight, std=0.02)
            self.label_embedding = norm(embedding)

    def forward(self, images: Tensor, labels: Tensor | None = None) -> Tensor:
        if images.dim() != 4 or images.shape[1:] != (1, 28, 28):
            raise ValueError(f"expected images [B, 1, 28, 28], got shape {tuple(images.shape)}")
        _check_labels(labels, images.shape[0], self.config.num_classes)
        h = self.features(images)
        logits = self.readout(h).squeeze(1)
        if self.label_embedding is not None:  # projection discriminator (Miyato & Koyama, 2018)
            logits = logits + (self.label_embedding(labels) * h).sum(dim=1)
        return logits


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, kind: str = "bce") -> Tensor:
    """The discriminator's loss on logits ``[B]`` for real and generated images.

    ``"bce"``: -log D(x) - log(1 - D(G(z))), the original minimax objective;
    ``"hinge"``: relu(1 - D(x)) + relu(1 + D(G(z))).
    """
    _check_logits(real_logits=real_logits, fake_logits=fake_logits)
    if kind == "bce":
        real_loss = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        fake_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return real_loss + fake_loss
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    raise ValueError(f"unknown loss kind {kind!r}; choose 'bce' or 'hinge'")


def generator_loss(fake_logits: Tensor, kind: str = "bce") -> Tensor:
    """The generator's loss on the discriminator's logits ``[B]`` for its samples.

    ``"bce"``: the non-saturating -log D(G(z)) (strong gradients when D confidently rejects the samples);
    ``"hinge"``: -D(G(z)).
    """
    _check_logits(fake_logits=fake_logits)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if kind == "hinge":
        return -fake_logits.mean()
    raise ValueError(f"unknown loss kind {kind!r}; choose 'bce' or 'hinge'")


class EMA:
    """An exponential moving average of a model's weights: ``ema = decay * ema + (1 - decay) * weights``.

    Sampling from the averaged generator removes much of the step-to-step jitter of GAN training. Buffers (batch-norm
    statistics) are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for ema_param, param in zip(self.model.parameters(), model.parameters()):
            ema_param.lerp_(param.detach(), 1.0 - self.decay)
        for ema_buffer, buffer in zip(self.model.buffers(), model.buffers()):
            ema_buffer.copy_(buffer)


@dataclass
class GANHistory:
    """What happened during ``train_gan``: one value per step for the losses and the discriminator's verdicts."""

    d_loss: list[float]
    g_loss: list[float]
    d_real: list[float]  # mean D(x): the discriminator's probability that real images are real
    d_fake: list[float]  # mean D(G(z)): its probability that generated images are real
    snapshots: list[Tensor]  # samples [k, 1, 28, 28] in [0, 1] from fixed noise, rendered during training
    snapshot_steps: list[int]  # the step after which each snapshot was rendered
    seconds: float


def _recent_means(history: GANHistory, window: int) -> dict[str, float]:
    """Means of the last ``window`` steps, named as the progress bar shows them."""
    series = {"d_loss": history.d_loss, "g_loss": history.g_loss, "D(x)": history.d_real, "D(G(z))": history.d_fake}
    return {name: round(sum(values[-window:]) / len(values[-window:]), 3) for name, values in series.items()}


def train_gan(
    generator: ImageGenerator,
    discriminator: nn.Module,
    images: Tensor,
    *,
    labels: Tensor | None = None,
    epochs: int,
    batch_size: int = 128,
    lr_g: float = 2e-4,
    lr_d: float = 2e-4,
    loss: str = "bce",
    ema: EMA | None = None,
    fixed_noise: Tensor | None = None,
    snapshot_every: int | None = None,
    rng: torch.Generator | None = None,
    progress: bool = True,
) -> GANHistory:
    """Alternate one discriminator step and one generator step per mini-batch of ``images`` ``[N, 1, 28, 28]`` in [0, 1].

    Adam with beta1 = 0.5 for both networks (the DCGAN choice). With ``labels`` ``[N]`` both networks are
    conditional and fakes get uniformly random labels. ``ema`` (if given) is updated after every generator step;
    ``fixed_noise`` ``[k, latent_dim]`` is rendered (by the EMA generator if there is one) every ``snapshot_every``
    steps, or after every epoch if that is None.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if snapshot_every is not None and snapshot_every < 1:
        raise ValueError(f"snapshot_every must be a positive number of steps, got {snapshot_every}")
    check_digit_images(images)  # in [0, 1]: a set already in the GAN's [-1, 1] is refused (train_gan rescales)
    conditional = generator.config.num_classes > 0
    if conditional != (labels is not None):
        raise ValueError("pass labels exactly when the generator is class-conditional")
    if not 1 <= batch_size <= len(images):
        raise ValueError(
            f"batch_size must be between 1 and the {len(images)} images (incomplete batches are dropped), "
            f"got {batch_size}"
        )
    latent_dim = generator.config.latent_dim
    if fixed_noise is not None and (fixed_noise.dim() != 2 or fixed_noise.shape[1] != latent_dim):
        raise ValueError(f"fixed_noise must be [k, {latent_dim}], got shape {tuple(fixed_noise.shape)}")
    if ema is not None and [p.shape for p in ema.model.parameters()] != [p.shape for p in generator.parameters()]:
        raise ValueError("ema must average this generator: build it with EMA(generator)")
    device = next(generator.parameters()).device
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=(0.5, 0.999))
    data = (to_gan_range(images),) if labels is None else (to_gan_range(images), labels)
    history = GANHistory([], [], [], [], [], [], 0.0)

    def judge(images: Tensor, labels: Tensor | None) -> Tensor:  # unconditional critics take images only
        return discriminator(images) if labels is None else discriminator(images, labels)

    def take_snapshot() -> None:
        shown = ema.model if ema is not None else generator
        snapshot_labels = torch.arange(len(fixed_noise)) % generator.config.num_classes if conditional else None
        history.snapshots.append(shown.render(fixed_noise, snapshot_labels).cpu())
        history.snapshot_steps.append(len(history.d_loss))

    start = time.perf_counter()
    steps = epochs * (len(images) // batch_size)
    bar = tqdm(total=steps, desc="training GAN", unit="step", disable=not progress, mininterval=0.5)
    try:
        for _ in range(epochs):
            generator.train()
            discriminator.train()
            for batch in minibatches(*data, batch_size=batch_size, shuffle=True, generator=rng, drop_last=True):
                real = batch[0].to(device)
                real_labels = batch[1].to(device) if conditional else None
                fake_labels = (
                    torch.randint(0, generator.config.num_classes, (len(real),), generator=rng).to(device)
                    if conditional
                    else None
                )
                z = torch.randn(len(real), generator.config.latent_dim, generator=rng).to(device)
                fake = generator(z, fake_labels)
                real_logits = judge(real, real_labels)
                fake_logits = judge(fake.detach(), fake_labels)
                d_loss = discriminator_loss(real_logits, fake_logits, loss)
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()

                g_loss = generator_loss(judge(fake, fake_labels), loss)
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                if ema is not None:
                    ema.update(generator)

                verdicts = [d_loss, g_loss, torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()]
                d_value, g_value, d_real, d_fake = torch.stack(verdicts).detach().tolist()  # one host sync per step
                history.d_loss.append(d_value)
                history.g_loss.append(g_value)
                history.d_real.append(d_real)
                history.d_fake.append(d_fake)
                bar.update(1)
                if len(history.d_loss) % 50 == 0:  # live numbers: means over the last 50 steps
                    bar.set_postfix(_recent_means(history, 50), refresh=False)
                if fixed_noise is not None and snapshot_every is not None and len(history.d_loss) % snapshot_every == 0:
                    take_snapshot()
            if fixed_noise is not None and snapshot_every is None:
                take_snapshot()
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    return history
