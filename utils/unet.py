"""A small U-Net that predicts the flow-matching velocity of digit images, and the time embedding it needs.

    x_t [B, 1, 28, 28], t [B], labels [B] or None  ->  velocity [B, 1, 28, 28]

The network sees the image at every scale: an encoder of residual blocks that halves the resolution
(28 -> 14 -> 7 with the default two levels below the top), a middle block at the coarsest scale, and a decoder
that doubles it back, each decoder block reading the encoder's features of the same size through a **skip
connection**. Every residual block is told the time (and the digit) by adding a learned projection of the
**time embedding** to its features: sinusoids of the time at geometrically spaced frequencies, as in the
Transformer's positions, then a small MLP. **GroupNorm** (not batch norm: the statistics of a noisy batch depend
on its times) and SiLU activations, as in DDPM's U-Net (Ho et al., 2020), minus attention, which 28x28 digits do
not need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from utils.flow import check_labels


@dataclass(frozen=True)
class UNetConfig:
    """Sizes of the U-Net; the defaults are chapter 07's CPU model."""

    channels: tuple[int, ...] = (32, 64, 64)  # feature channels at 28x28, 14x14, 7x7
    embed_dim: int = 128  # width of the time (and label) embedding
    num_classes: int = 0  # > 0: class-conditional, with a "no label" embedding at index num_classes
    groups: int = 8  # GroupNorm groups (each level's channels must be a multiple)


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Features ``[B, dim]`` of times ``t`` ``[B]`` in [0, 1]: cos and sin of ``1000 t`` at ``dim / 2`` frequencies
    from 1 down to ``1 / max_period`` (Vaswani et al., 2017; DDPM feeds its integer step 0..999 the same way)."""
    if t.dim() != 1:
        raise ValueError(f"expected times [B], got shape {tuple(t.shape)}")
    if dim < 2 or dim % 2:
        raise ValueError(f"the embedding dimension must be even and at least 2, got {dim}")
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = 1000.0 * t.float()[:, None] * frequencies[None, :]
    return torch.cat([angles.cos(), angles.sin()], dim=1)


class TimeEmbedding(nn.Module):
    """Times ``[B]`` (and labels ``[B]``, index ``num_classes`` = no label) -> conditioning vectors ``[B, dim]``."""

    def __init__(self, dim: int, num_classes: int = 0):
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"the embedding dimension must be even and at least 2, got {dim}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0 (0: unconditional), got {num_classes}")
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.label = nn.Embedding(num_classes + 1, dim) if num_classes else None

    def forward(self, t: Tensor, labels: Tensor | None = None) -> Tensor:
        emb = self.mlp(sinusoidal_embedding(t, self.dim))
        if self.label is not None:
            if labels is None:  # unconditional: the "no label" row
                labels = torch.full((t.shape[0],), self.label.num_embeddings - 1, device=t.device, dtype=torch.long)
            emb = emb + self.label(labels)
        return emb


class ResBlock(nn.Module):
    """GroupNorm, SiLU, 3x3 conv; add the projected embedding; GroupNorm, SiLU, 3x3 conv; plus the input
    (through a 1x1 conv when the channel count changes). ``[B, c_in, H, W], [B, E] -> [B, c_out, H, W]``."""

    def __init__(self, c_in: int, c_out: int, embed_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(math.gcd(groups, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.embed = nn.Linear(embed_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity: training starts stable
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.embed(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class UNet(nn.Module):
    """The velocity network of chapter 07: ``(x_t [B, 1, 28, 28], t [B], labels [B] | None) -> [B, 1, 28, 28]``.

    One residual block per level on the way down (then a stride-2 conv to halve the size), a middle block, and one
    residual block per level on the way up (after nearest-neighbour upsampling and a 3x3 conv), reading the
    concatenated skip features of the same level.
    """

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        config = config or UNetConfig()
        self.config = config
        self.num_classes = config.num_classes
        if not config.channels or any(c < 1 for c in config.channels):
            raise ValueError(f"channels must be one or more positive numbers of channels, got {config.channels}")
        if config.groups < 1:
            raise ValueError(f"groups must be at least 1, got {config.groups}")
        if any(c % config.groups for c in config.channels):
            raise ValueError(f"every level's channels {config.channels} must be a multiple of groups={config.groups}")
        c, e, g = config.channels, config.embed_dim, config.groups
        self.time = TimeEmbedding(e, config.num_classes)
        self.stem = nn.Conv2d(1, c[0], 3, padding=1)
        self.down = nn.ModuleList(ResBlock(c[i], c[i], e, g) for i in range(len(c)))
        self.downsample = nn.ModuleList(nn.Conv2d(c[i], c[i + 1], 3, stride=2, padding=1) for i in range(len(c) - 1))
        self.middle = ResBlock(c[-1], c[-1], e, g)
        self.upsample = nn.ModuleList(nn.Conv2d(c[i + 1], c[i], 3, padding=1) for i in range(len(c) - 1))
        self.up = nn.ModuleList(ResBlock(2 * c[i], c[i], e, g) for i in range(len(c)))
        self.out = nn.Sequential(nn.GroupNorm(g, c[0]), nn.SiLU(), nn.Conv2d(c[0], 1, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)  # predicts zero velocity at first
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        if x.dim() != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"expected images [B, 1, 28, 28], got shape {tuple(x.shape)}")
        if t.shape != (x.shape[0],):
            raise ValueError(f"expected times [B] = [{x.shape[0]}], got shape {tuple(t.shape)}")
        check_labels(labels, x.shape[0], self.num_classes, allow_null=True)
        emb = self.time(t, labels)
        h = self.stem(x)
        skips = []
        for level, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
        h = self.middle(h, emb)
        for level in reversed(range(len(self.up))):
            if level < len(self.upsample):
                h = self.upsample[level](F.interpolate(h, size=skips[level].shape[-2:], mode="nearest"))
            h = self.up[level](torch.cat([h, skips[level]], dim=1), emb)
        return self.out(h)
