"""Generators built on a velocity network: in pixel space (``ImageFlow``) or in a VAE's latent space (``LatentFlow``).

Both sample like chapter 04's DCGAN, ``model.sample(n, labels=None, generator=None) -> [n, 1, 28, 28]`` in [0, 1]:
draw Gaussian noise in the model's space, carry it to t = 1 with a sampler of ``utils.samplers`` (its settings,
``steps``, ``method`` and ``guidance``, are the model's defaults and can be overridden per call), then map the result
to images. A class-conditional model draws the digits in ``labels``; without labels, each sample's digit is drawn
uniformly at random (with ``generator``), which samples the whole distribution of digits.

``VelocityMLP`` is the velocity network for vectors: 2-D toy points, or the 32-number codes of chapter 05's VAE.
Latent diffusion (Rombach et al., 2022, the idea behind Stable Diffusion) runs the same flow matching on codes:
a 32-number code costs far less to denoise than 784 pixels, and the VAE's decoder turns it into an image.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from utils.digits import check_digit_images
from utils.flow import check_labels
from utils.gan import to_gan_range, to_unit_range
from utils.modes import eval_mode
from utils.samplers import check_sampler_settings, guided_velocity, model_velocity, solve
from utils.unet import TimeEmbedding


class VelocityMLP(nn.Module):
    """Velocity of vectors: ``(x [B, dim], t [B], labels [B] | None) -> [B, dim]``.

    The vector and its time (and label) embedding are concatenated, then ``layers`` hidden layers of ``hidden``
    SiLU units; the output layer starts at zero.
    """

    def __init__(self, dim: int, hidden: int = 512, layers: int = 3, embed_dim: int = 128, num_classes: int = 0):
        super().__init__()
        for name, size in (("dim", dim), ("hidden", hidden), ("layers", layers)):
            if size < 1:
                raise ValueError(f"{name} must be at least 1, got {size}")
        self.dim, self.num_classes = dim, num_classes
        self.time = TimeEmbedding(embed_dim, num_classes)
        sizes = [dim + embed_dim] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            blocks += [nn.Linear(a, b), nn.SiLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(hidden, dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected vectors [B, {self.dim}], got shape {tuple(x.shape)}")
        if t.shape != (x.shape[0],):
            raise ValueError(f"expected times [B] = [{x.shape[0]}], got shape {tuple(t.shape)}")
        check_labels(labels, x.shape[0], self.num_classes, allow_null=True)
        return self.net(torch.cat([x, self.time(t, labels)], dim=1))


class FlowGenerator(nn.Module):
    """A velocity network plus how to sample it; subclasses say how images map to and from the model's space."""

    def __init__(self, velocity: nn.Module, steps: int = 10, method: str = "heun", guidance: float = 1.0):
        super().__init__()
        check_sampler_settings(method, steps, guidance)
        self.velocity = velocity
        self.steps, self.method, self.guidance = steps, method, guidance

    @property
    def num_classes(self) -> int:
        return getattr(self.velocity, "num_classes", 0)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample in the model's space."""
        raise NotImplementedError

    def to_model_space(self, images: Tensor) -> Tensor:
        """Images ``[B, 1, 28, 28]`` in [0, 1] -> what the velocity network is trained on ``[B, *sample_shape]``."""
        raise NotImplementedError

    def to_images(self, x: Tensor) -> Tensor:
        """Samples in the model's space ``[B, *sample_shape]`` -> images ``[B, 1, 28, 28]`` in [0, 1]."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
        *,
        steps: int | None = None,
        method: str | None = None,
        guidance: float | None = None,
        grid: str = "uniform",
        trajectory: bool = False,
        batch_size: int = 200,
    ) -> Tensor:
        """``n`` images ``[n, 1, 28, 28]`` in [0, 1] on the model's device (noise and random digits drawn on the CPU
        with ``generator``), or with ``trajectory=True`` the images at every step ``[steps + 1, n, 1, 28, 28]``.
        ``steps``, ``method`` and ``guidance`` default to the model's settings; ``grid`` is ``solve``'s time grid.

        The ODE is solved ``batch_size`` samples at a time (the result does not depend on it; on a 2-core CPU the
        U-Net ran fastest per image on batches of about 200-250, twice as fast as on batches of 1,000).
        """
        if n < 1 or batch_size < 1:
            raise ValueError(f"n and batch_size must be at least 1, got {n} and {batch_size}")
        steps = self.steps if steps is None else steps  # not `steps or ...`: 0 must be an error, not the default
        method = self.method if method is None else method
        guidance = self.guidance if guidance is None else guidance
        check_sampler_settings(method, steps, guidance)
        device = next(self.parameters()).device
        if self.num_classes:
            if labels is None:
                labels = torch.randint(0, self.num_classes, (n,), generator=generator)
            check_labels(labels, n, self.num_classes)
            labels = labels.to(device)
        else:
            check_labels(labels, n, 0)
        noise = torch.randn((n, *self.sample_shape), generator=generator).to(device)
        chunks = []
        with eval_mode(self):
            for start in range(0, n, batch_size):
                chunk = slice(start, start + batch_size)
                if self.num_classes:
                    velocity = guided_velocity(self.velocity, labels[chunk], guidance)
                else:
                    velocity = model_velocity(self.velocity)
                x = solve(velocity, noise[chunk], steps, method, grid, trajectory)
                chunks.append(torch.stack([self.to_images(s) for s in x]) if trajectory else self.to_images(x))
        return torch.cat(chunks, dim=1 if trajectory else 0)


class ImageFlow(FlowGenerator):
    """Flow matching in pixel space: the network sees digits scaled to [-1, 1] (the noise's scale)."""

    sample_shape = (1, 28, 28)

    def to_model_space(self, images: Tensor) -> Tensor:
        check_digit_images(images)
        return to_gan_range(images)

    def to_images(self, x: Tensor) -> Tensor:
        return to_unit_range(x)


class LatentFlow(FlowGenerator):
    """Flow matching on the codes of a VAE (``encode(x) -> (mean, logvar)``, ``decode(z)`` -> [0, 1] images).

    A digit's code is its posterior mean, standardised per dimension with the statistics of the training codes
    (buffers ``code_mean`` and ``code_std``, set by ``fit_code_statistics``) so that the data, like the noise, have
    unit scale. The VAE is frozen: only the velocity network learns.
    """

    def __init__(self, velocity: VelocityMLP, vae: nn.Module, **sampling):
        super().__init__(velocity, **sampling)
        latent_dim = getattr(getattr(vae, "config", None), "latent_dim", velocity.dim)
        if latent_dim != velocity.dim:
            raise ValueError(f"the velocity network's dim {velocity.dim} must equal the VAE's latent_dim {latent_dim}")
        self.vae = vae.eval().requires_grad_(False)
        self.register_buffer("code_mean", torch.zeros(velocity.dim))
        self.register_buffer("code_std", torch.ones(velocity.dim))

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.velocity.dim,)

    @torch.no_grad()
    def _codes(self, images: Tensor, batch_size: int = 4096) -> Tensor:
        check_digit_images(images)
        with eval_mode(self.vae):
            return torch.cat([self.vae.encode(images[i : i + batch_size])[0] for i in range(0, len(images), batch_size)])

    def fit_code_statistics(self, images: Tensor) -> None:
        """Set the code standardisation from training images ``[N, 1, 28, 28]`` in [0, 1]."""
        codes = self._codes(images)
        self.code_mean.copy_(codes.mean(dim=0))
        self.code_std.copy_(codes.std(dim=0).clamp(min=1e-4))

    def to_model_space(self, images: Tensor) -> Tensor:
        return (self._codes(images) - self.code_mean) / self.code_std

    def to_images(self, x: Tensor) -> Tensor:
        with eval_mode(self.vae):
            return self.vae.decode(x * self.code_std + self.code_mean)
