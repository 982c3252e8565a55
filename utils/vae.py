"""Chapter 05's reference VAE for binarised 28x28 digits: a Gaussian encoder, a Bernoulli decoder, the ELBO and the
importance-weighted bound.

All likelihoods are in nats per image. Images are ``[N, 1, 28, 28]`` with values in {0, 1} (binarised) or [0, 1]
(the Bernoulli log-likelihood accepts both). The decoder returns logits; ``decode`` turns them into Bernoulli means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from utils.digits import check_digit_images
from utils.modes import eval_mode

PIXELS = 28 * 28


@dataclass
class VAEConfig:
    """Sizes of the MLP VAE: two hidden layers in the encoder and (mirrored) in the decoder."""

    latent_dim: int = 32
    hidden: int = 512
    num_classes: int = 0  # > 0: a conditional VAE; encoder and decoder also see the one-hot label


def dynamic_binarize(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Sample each pixel as Bernoulli(intensity): images ``[N, 1, 28, 28]`` in [0, 1] -> {0, 1}, float.

    Drawing a fresh binarisation every epoch (Salakhutdinov & Murray, 2008) is the standard protocol for
    "binarised MNIST" likelihoods and acts as data augmentation.
    """
    check_digit_images(x)
    noise = torch.rand(x.shape, generator=generator).to(x.device)
    return (noise < x).float()


def binarized_mnist_test(seed: int = 0) -> Tensor:
    """The 10,000 MNIST test digits ``[10000, 1, 28, 28]``, binarised once with a fixed seed: the course's test set
    for likelihoods, shared by chapter 05, ``scripts/train_vae.py`` and the ``"vae-mnist"`` registry entry."""
    from utils.data import load_mnist

    return dynamic_binarize(load_mnist("test")[0], generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def mean_negative_elbo(model: VAE, x: Tensor, seed: int = 0, batch_size: int = 2000) -> float:
    """Mean negative ELBO (nats per image) of images ``[N, 1, 28, 28]``, one seeded posterior sample per image.

    The seed applies inside a forked random state: the caller's random numbers (a training run's batches and noise)
    continue as if this had not been called."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    check_digit_images(x)
    cuda = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=cuda), eval_mode(model):
        torch.manual_seed(seed)
        values = [elbo(model, x[i : i + batch_size]).value for i in range(0, len(x), batch_size)]
    return -torch.cat(values).mean().item()


def bernoulli_log_likelihood(logits: Tensor, x: Tensor) -> Tensor:
    """log p(x | z) in nats per image ``[N]`` for decoder logits and images, both ``[N, 1, 28, 28]``.

    The images are Bernoulli targets: float values in [0, 1] (0-255 pixels would score about -1e5 nats, not fail).
    """
    for name, t in (("logits", logits), ("images", x)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor [N, 1, 28, 28], got {type(t).__name__}")
    if logits.shape != x.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and images {tuple(x.shape)} must have the same shape")
    if not x.is_floating_point():
        raise ValueError(f"images must be a float tensor with values in [0, 1], got dtype {x.dtype}")
    if x.numel():
        low, high = x.min().item(), x.max().item()
        if not (math.isfinite(low) and math.isfinite(high)) or low < 0.0 or high > 1.0:
            raise ValueError(
                f"images must have values in [0, 1], found [{low:.3g}, {high:.3g}]: divide 0-255 pixels by 255 "
                "and check for NaNs"
            )
        if not torch.isfinite(logits).all():
            raise ValueError("logits contain NaN or infinite values")
    return _bernoulli_log_likelihood(logits, x)


def _bernoulli_log_likelihood(logits: Tensor, x: Tensor) -> Tensor:
    """``bernoulli_log_likelihood`` without the checks, for images already checked (inside ``elbo``)."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) in nats per row ``[N]``, in closed form, for ``[N, latent_dim]`` inputs."""
    if mean.shape != logvar.shape or mean.dim() != 2:
        raise ValueError(
            f"mean {tuple(mean.shape)} and logvar {tuple(logvar.shape)} must have the same shape [N, latent_dim]"
        )
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)


def gaussian_log_density(z: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mean, exp(logvar)) summed over the last dimension: ``[..., latent_dim]`` -> ``[...]``."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mean).pow(2) / logvar.exp()).sum(dim=-1)


class VAE(nn.Module):
    """x ``[N, 1, 28, 28]`` -> q(z|x) = N(mean, diag(exp(logvar))) over ``latent_dim`` -> Bernoulli logits for x.

    With ``num_classes > 0`` every method also takes ``labels`` ``[N]``: the encoder and the decoder see the one-hot
    label next to their input, so the latent only has to hold what the label does not say (the style).
    """

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = config = config or VAEConfig()
        for name in ("latent_dim", "hidden"):
            if getattr(config, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
        if config.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0 (0: unconditional), got {config.num_classes}")
        h, c = config.hidden, config.num_classes
        self.encoder = nn.Sequential(nn.Linear(PIXELS + c, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.to_mean = nn.Linear(h, config.latent_dim)
        self.to_logvar = nn.Linear(h, config.latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim + c, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, PIXELS)
        )

    def _with_labels(self, inputs: Tensor, labels: Tensor | None) -> Tensor:
        """Append one-hot labels to rows ``[N, D]`` for a conditional model; check that labels fit the model."""
        classes = self.config.num_classes
        if not classes:
            if labels is not None:
                raise ValueError("this VAE is unconditional: pass no labels (or build it with num_classes > 0)")
            return inputs
        if labels is None or labels.shape != (inputs.shape[0],) or labels.dtype != torch.long:
            raise ValueError(
                f"this VAE is conditional: pass int64 labels of shape [{inputs.shape[0]}] in 0..{classes - 1}"
            )
        if labels.min() < 0 or labels.max() >= classes:
            raise ValueError(f"labels must lie in 0..{classes - 1}")
        return torch.cat([inputs, F.one_hot(labels.to(inputs.device), classes).to(inputs.dtype)], dim=1)

    def encode(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mean and log-variance ``[N, latent_dim]`` of q(z | x) for images ``[N, 1, 28, 28]``."""
        check_digit_images(x)
        features = self.encoder(self._with_labels(x.flatten(1), labels))
        return self.to_mean(features), self.to_logvar(features)

    def decode_logits(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Bernoulli logits ``[N, 1, 28, 28]`` of p(x | z) for latents ``[N, latent_dim]``."""
        if z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"expected latents [N, {self.config.latent_dim}], got shape {tuple(z.shape)}")
        return self.decoder(self._with_labels(z, labels)).view(-1, 1, 28, 28)

    @torch.no_grad()
    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Bernoulli means ``[N, 1, 28, 28]`` in [0, 1]: the image the decoder expects for each latent."""
        if not torch.isfinite(z).all():
            raise ValueError("latents contain NaN or infinite values")
        return torch.sigmoid(self.decode_logits(z.to(next(self.parameters()).device), labels))

    def sample(self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``n`` images ``[n, 1, 28, 28]`` (Bernoulli means in [0, 1]) decoded from z ~ N(0, I)."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        return self.decode(torch.randn(n, self.config.latent_dim, generator=generator), labels)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Reparameterised pass: (decoder logits ``[N, 1, 28, 28]``, mean, logvar ``[N, latent_dim]``)."""
        mean, logvar = self.encode(x, labels)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        return self.decode_logits(z, labels), mean, logvar


@dataclass
class ELBO:
    """The evidence lower bound of a batch, split in its two terms (nats per image, ``[N]`` each)."""

    reconstruction: Tensor  # E_q[log p(x | z)], one sample
    kl: Tensor  # KL(q(z | x) || p(z)), closed form

    @property
    def value(self) -> Tensor:
        """ELBO per image ``[N]``: reconstruction - KL (a lower bound on log p(x))."""
        return self.reconstruction - self.kl


def elbo(model: VAE, x: Tensor, labels: Tensor | None = None, beta: float = 1.0) -> ELBO:
    """The ELBO terms of images ``[N, 1, 28, 28]`` with one reparameterised sample; ``beta`` scales the KL term."""
    if not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be finite and >= 0, got {beta}")
    logits, mean, logvar = model(x, labels)  # model.encode checks the images: float [N, 1, 28, 28] in [0, 1]
    return ELBO(_bernoulli_log_likelihood(logits, x), beta * gaussian_kl(mean, logvar))


def negative_elbo_loss(model: VAE, x: Tensor, labels: Tensor | None = None) -> Tensor:
    """Mean negative ELBO over the batch, the training loss (a ``loss_fn`` for ``utils.train.fit``)."""
    return -elbo(model, x, labels).value.mean()


@torch.no_grad()
def log_importance_weights(
    model: VAE, x: Tensor, k: int, chunk: int = 20, generator: torch.Generator | None = None
) -> Tensor:
    """log p(x, z_i) - log q(z_i | x) for ``k`` samples z_i ~ q(z | x) per image: ``[k, N]``, nats.

    Their mean is a ``k``-sample estimate of the ELBO; their log-mean-exp is the importance-weighted bound.
    Samples are drawn ``chunk`` at a time to bound memory.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    mean, logvar = model.encode(x)
    log_weights = []
    for start in range(0, k, chunk):
        m = min(chunk, k - start)
        eps = torch.randn(m, *mean.shape, generator=generator).to(mean.device)  # [m, N, latent_dim]
        z = mean + eps * (0.5 * logvar).exp()
        logits = model.decode_logits(z.flatten(0, 1)).view(m, *x.shape)
        log_px_z = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").flatten(2).sum(2)
        log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = gaussian_log_density(z, mean, logvar)
        log_weights.append(log_px_z + log_pz - log_qz)  # [m, N]
    return torch.cat(log_weights)


def importance_weighted_bound(
    model: VAE, x: Tensor, k: int, chunk: int = 20, generator: torch.Generator | None = None
) -> Tensor:
    """log p(x) estimated with ``k`` importance samples from q(z|x) (Burda et al., 2015), per image ``[N]``, nats.

    log (1/k) sum_i p(x, z_i) / q(z_i | x): a lower bound on log p(x) that tightens as ``k`` grows; by Jensen's
    inequality it is never below the mean of the same log-weights, the ELBO estimated from the same samples.
    """
    log_weights = log_importance_weights(model, x, k, chunk, generator)
    return torch.logsumexp(log_weights, dim=0) - math.log(k)
