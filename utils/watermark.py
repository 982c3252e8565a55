"""A green-list watermark for generated text (Kirchenbauer et al. 2023, "A Watermark for Large Language Models").

Before each token is sampled, the previous token seeds a split of the vocabulary into a *green* list (a fraction
``gamma`` of it) and a red list, and ``delta`` is added to the green tokens' logits. Generated text then holds more
green tokens than chance: of ``T`` scored tokens, unwatermarked text has ``gamma * T`` green ones on average, and the
detector's statistic

    z = (green - gamma * T) / sqrt(T * gamma * (1 - gamma))

is approximately standard normal for text written without the key; watermarked text gets a large ``z``. Detecting
needs the key (here: a seed that fixes every green list), not the model. The detector counts each distinct
(previous token, token) pair of a text once: over characters, pairs repeat so often that counting every
occurrence makes the score of ordinary text depend on the key's luck with a few common pairs.

With a vocabulary of characters, the green list after each of the ``V`` possible previous tokens is fixed by one
``[V, V]`` boolean table, computed once from the key.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class GreenListWatermark:
    """The watermark with key ``key``: green lists of ``round(gamma * vocab_size)`` tokens, a logit bonus ``delta``.

    Call it as a logits processor, ``watermark(ids [B, t], logits [B, V]) -> logits [B, V]`` (``GPT.generate``'s
    ``logits_processor``), and score text with ``z_scores(ids [B, T]) -> [B]``.
    """

    def __init__(self, vocab_size: int, gamma: float = 0.5, delta: float = 2.0, key: int = 0):
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(f"vocab_size must be an integer >= 2, got {vocab_size!r}")
        if not 0 < gamma < 1:
            raise ValueError(f"gamma (the green share) must be in (0, 1), got {gamma}")
        if not (math.isfinite(delta) and delta >= 0):
            raise ValueError(f"delta (the logit bonus) must be finite and >= 0, got {delta}")
        green = round(gamma * vocab_size)
        if not 0 < green < vocab_size:
            raise ValueError(f"gamma {gamma} of {vocab_size} tokens leaves an empty green or red list")
        self.vocab_size, self.delta, self.key = vocab_size, float(delta), int(key)
        self.gamma = green / vocab_size  # the exact share the detector must expect
        generator = torch.Generator().manual_seed(self.key)
        order = torch.stack([torch.randperm(vocab_size, generator=generator) for _ in range(vocab_size)])
        self.green = torch.zeros(vocab_size, vocab_size, dtype=torch.bool)  # [previous token, token]
        self.green.scatter_(1, order[:, :green], True)

    def _check_ids(self, ids: Tensor) -> None:
        if not isinstance(ids, Tensor) or ids.dim() != 2 or ids.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"expected integer token ids [B, T], got {getattr(ids, 'dtype', type(ids))} "
                             f"{tuple(getattr(ids, 'shape', ()))}")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"token ids must be in [0, {self.vocab_size}), got {ids.min()}..{ids.max()}")

    def __call__(self, ids: Tensor, logits: Tensor) -> Tensor:
        """Add ``delta`` to the logits ``[B, V]`` of the tokens green after each row's last token of ``ids`` ``[B, t]``."""
        self._check_ids(ids)
        if logits.dim() != 2 or logits.shape != (ids.shape[0], self.vocab_size):
            raise ValueError(f"expected logits [{ids.shape[0]}, {self.vocab_size}], got {tuple(logits.shape)}")
        if ids.shape[1] == 0:
            raise ValueError("the watermark needs at least one previous token (a prompt)")
        green = self.green.to(logits.device)[ids[:, -1]]
        return logits + self.delta * green.to(logits.dtype)

    def green_counts(self, ids: Tensor, ignore_repeats: bool = True) -> tuple[Tensor, Tensor]:
        """Green tokens among positions 1..T-1 of each row of ``ids`` ``[B, T]`` (each judged by the token before
        it) and the number of tokens scored, both int64 ``[B]``. With ``ignore_repeats`` each distinct (previous
        token, token) pair of a row counts once: text repeats pairs ("th", "e "), and a pair's colour is fixed by
        the key, so counting repeats lets a few common pairs push unwatermarked text far from z = 0."""
        self._check_ids(ids)
        if ids.shape[1] < 2:
            raise ValueError("need at least two tokens: each scored token is judged by the one before it")
        pairs = ids[:, :-1] * self.vocab_size + ids[:, 1:]  # [B, T - 1], one id per (previous, token) pair
        green_pairs = self.green.to(ids.device).flatten()  # [V * V]
        if not ignore_repeats:
            return green_pairs[pairs].sum(dim=1), torch.full((len(ids),), ids.shape[1] - 1, device=ids.device)
        seen = torch.zeros(len(ids), self.vocab_size**2, dtype=torch.bool, device=ids.device)
        seen.scatter_(1, pairs, True)
        return (seen & green_pairs).sum(dim=1), seen.sum(dim=1)

    def z_scores(self, ids: Tensor, ignore_repeats: bool = True) -> Tensor:
        """The detector's z-score of each row of ``ids`` ``[B, T]``: float64 ``[B]``, near N(0, 1) for text written
        without the key (see ``green_counts`` for ``ignore_repeats``)."""
        green, scored = self.green_counts(ids, ignore_repeats)
        scored = scored.double()
        return (green.double() - self.gamma * scored) / torch.sqrt(scored * self.gamma * (1 - self.gamma))
