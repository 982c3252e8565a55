"""Chapter 12's models of spoken digits, all on log-mel spectrograms ``[B, 1, n_mels, frames]`` (64 x 64 by default):

- ``BandNormalizer``: per-mel-band standardisation fitted on training spectrograms (and its inverse);
- ``spec_augment``: SpecAugment's frequency and time masks (Park et al., 2019), the classifier's augmentation;
- ``audio_classifier``: chapter 02's CNN (``utils.cnn``) sized for 64 x 64 spectrograms; its 64 penultimate
  features are the feature space of the chapter's Fréchet distance;
- ``MelCVAE``: a conditional VAE with a Gaussian decoder and a learned prior mean per digit, the generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from utils.cnn import CNN, CNNConfig


class BandNormalizer(nn.Module):
    """Standardise each mel band with the training set's mean and standard deviation (buffers ``[n_mels, 1]``)."""

    def __init__(self, log_mels: Tensor):
        super().__init__()
        if log_mels.dim() != 4 or log_mels.shape[1] != 1 or len(log_mels) < 2:
            raise ValueError(f"fit on at least two spectrograms [N, 1, n_mels, frames], got {tuple(log_mels.shape)}")
        if not torch.isfinite(log_mels).all():
            raise ValueError("log_mels contains NaN or infinite values")
        per_band = log_mels.transpose(0, 2).flatten(1)  # [n_mels, N * frames]
        self.register_buffer("mean", per_band.mean(1, keepdim=True))
        self.register_buffer("std", per_band.std(1, keepdim=True).clamp(min=1e-3))

    def forward(self, log_mels: Tensor) -> Tensor:  # [B, 1, n_mels, T] in nats -> standardised units
        return (log_mels - self.mean) / self.std

    def inverse(self, standardised: Tensor) -> Tensor:  # standardised units -> [B, 1, n_mels, T] in nats
        return standardised * self.std + self.mean


def spec_augment(x: Tensor, max_width: int = 8, generator: torch.Generator | None = None) -> Tensor:
    """Set one random band of up to ``max_width`` mel rows and one of up to ``max_width`` frames to 0 (the mean of
    standardised inputs) in each spectrogram ``[B, 1, M, T]``; a new tensor."""
    if x.dim() != 4:
        raise ValueError(f"expected spectrograms [B, 1, M, T], got shape {tuple(x.shape)}")
    if not 0 <= max_width <= min(x.shape[-2:]):
        raise ValueError(f"max_width must be in [0, {min(x.shape[-2:])}], got {max_width}")
    out = x.clone()
    b, _, m, t = x.shape
    for axis, size in ((2, m), (3, t)):
        width = torch.randint(0, max_width + 1, (b,), generator=generator)
        start = (torch.rand(b, generator=generator) * (size - width + 1)).long()
        index = torch.arange(size)
        mask = (index >= start[:, None]) & (index < (start + width)[:, None])  # [B, size]
        shape = (b, 1, size, 1) if axis == 2 else (b, 1, 1, size)
        out = out.masked_fill(mask.view(shape).to(x.device), 0.0)
    return out


def audio_classifier(n_mels: int = 64, hidden: int = 64) -> CNN:
    """Chapter 02's CNN for standardised log-mel spectrograms ``[B, 1, n_mels, n_mels]``: 10 spoken digits."""
    return CNN(CNNConfig(channels=(16, 32), kernel_size=5, hidden=hidden, dropout=0.3, image_size=n_mels,
                         mean=0.0, std=1.0))


@dataclass
class MelCVAEConfig:
    """Sizes of the conditional VAE: an MLP encoder and decoder over flattened spectrograms."""

    n_mels: int = 64
    frames: int = 64
    latent_dim: int = 16
    hidden: int = 512
    num_classes: int = 10


class MelCVAE(nn.Module):
    """q(z | x, y) = N(mu, sigma^2), p(z | y) = N(m_y, I) with a learned mean per digit, p(x | z, y) = N(decoder,
    s^2 I) with one learned scale s (Rybkin et al., 2021). Spectrograms are standardised ``[B, 1, n_mels, frames]``."""

    def __init__(self, config: MelCVAEConfig | None = None):
        super().__init__()
        self.config = c = config or MelCVAEConfig()
        size = c.n_mels * c.frames
        self.encoder = nn.Sequential(nn.Linear(size + c.num_classes, c.hidden), nn.ReLU(),
                                     nn.Linear(c.hidden, c.hidden), nn.ReLU(), nn.Linear(c.hidden, 2 * c.latent_dim))
        self.decoder = nn.Sequential(nn.Linear(c.latent_dim + c.num_classes, c.hidden), nn.ReLU(),
                                     nn.Linear(c.hidden, c.hidden), nn.ReLU(), nn.Linear(c.hidden, size))
        self.prior_mean = nn.Embedding(c.num_classes, c.latent_dim)
        nn.init.normal_(self.prior_mean.weight, std=1.0)
        self.log_scale = nn.Parameter(torch.zeros(()))  # log s of the decoder's Gaussian, in standardised units

    def _one_hot(self, labels: Tensor) -> Tensor:
        if labels.dtype != torch.long or labels.dim() != 1:
            raise ValueError(f"labels must be int64 [B], got {labels.dtype} {tuple(labels.shape)}")
        if len(labels) and (labels.min() < 0 or labels.max() >= self.config.num_classes):
            raise ValueError(f"labels must be in 0..{self.config.num_classes - 1}")
        return nn.functional.one_hot(labels, self.config.num_classes).float()

    def _check(self, x: Tensor, labels: Tensor) -> None:
        c = self.config
        if x.dim() != 4 or x.shape[1:] != (1, c.n_mels, c.frames) or len(labels) != len(x):
            raise ValueError(f"expected x [B, 1, {c.n_mels}, {c.frames}] and labels [B], got {tuple(x.shape)} and "
                             f"{tuple(labels.shape)}")

    def encode(self, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:  # -> mean, logvar [B, latent_dim]
        self._check(x, labels)
        mean, logvar = self.encoder(torch.cat([x.flatten(1), self._one_hot(labels)], 1)).chunk(2, dim=1)
        return mean, logvar

    def decode(self, z: Tensor, labels: Tensor) -> Tensor:  # [B, latent_dim] -> [B, 1, n_mels, frames]
        c = self.config
        return self.decoder(torch.cat([z, self._one_hot(labels)], 1)).view(-1, 1, c.n_mels, c.frames)

    def loss(self, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """(reconstruction, KL) in nats per spectrogram ``[B]`` each; their sum is the negative ELBO."""
        mean, logvar = self.encode(x, labels)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        error = (x - self.decode(z, labels)).flatten(1)
        s = self.log_scale
        reconstruction = (0.5 * error.pow(2) * torch.exp(-2 * s) + s + 0.5 * math.log(2 * math.pi)).sum(1)
        prior = self.prior_mean(labels)
        kl = 0.5 * ((mean - prior).pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return reconstruction, kl

    @torch.no_grad()
    def sample(self, labels: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """The decoder's mean for ``z ~ N(m_y, temperature^2 I)``: standardised spectrograms ``[B, 1, M, T]``."""
        if not 0 <= temperature < float("inf"):
            raise ValueError(f"temperature must be finite and >= 0, got {temperature}")
        device = self.prior_mean.weight.device
        labels = labels.to(device)
        self._one_hot(labels)  # checks the labels before they index the prior means
        noise = torch.randn(len(labels), self.config.latent_dim, generator=generator).to(device)
        return self.decode(self.prior_mean(labels) + temperature * noise, labels)
