"""Choosing the next token of a language model: temperature, top-k and top-p (nucleus) filtering.

Shared by chapter 03's recurrent models (``utils.charlm.sample``) and chapter 06's GPT (``GPT.generate``): both
turn the logits of the last position into a distribution with ``next_token_distribution`` and draw from it. They
check the settings once with ``check_sampling_settings`` before generating, then call the unchecked
``distribution_from_logits`` for every token.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch
import torch.nn.functional as F
from torch import Tensor


def check_sampling_settings(temperature: float, top_k: int | None, top_p: float | None, vocab_size: int) -> None:
    """Raise ``TypeError`` or ``ValueError`` unless the settings define a distribution over ``vocab_size`` tokens.

    ``temperature``: a finite number >= 0 (0: greedy decoding; any positive value works, however small or large);
    ``top_k``: None or an integer in 1..vocab_size; ``top_p``: None or a number in (0, 1].
    """
    if isinstance(temperature, bool) or not isinstance(temperature, Real):
        raise TypeError(f"temperature must be a number >= 0, got {type(temperature).__name__}")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be >= 0 and finite (0: greedy decoding), got {temperature}")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, Integral):
            raise TypeError(f"top_k must be an integer between 1 and {vocab_size} (or None), got {top_k!r}")
        if not 1 <= top_k <= vocab_size:
            raise ValueError(f"top_k must be between 1 and {vocab_size}, got {top_k}")
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, Real):
            raise TypeError(f"top_p must be a number in (0, 1] (or None), got {top_p!r}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def next_token_distribution(
    logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """Probabilities ``[B, V]`` from logits ``[B, V]``.

    Divide by ``temperature`` (0 puts all mass on the arg-max: greedy decoding), keep the ``top_k`` largest, then keep
    the smallest set of most likely tokens whose probability reaches ``top_p`` (nucleus sampling), and renormalise.
    Logits may be ``-inf`` (a forbidden token) but not NaN or ``+inf``, and each row needs one finite logit.
    """
    if not isinstance(logits, Tensor):
        raise TypeError(f"logits must be a torch.Tensor [B, V], got {type(logits).__name__}")
    if logits.dim() == 0 or logits.shape[-1] == 0 or not logits.is_floating_point():
        raise ValueError(f"logits must be a float tensor [B, V] with V >= 1, got {tuple(logits.shape)} {logits.dtype}")
    check_sampling_settings(temperature, top_k, top_p, logits.shape[-1])
    if torch.isnan(logits).any() or torch.isposinf(logits).any():
        raise ValueError("logits contain NaN or +inf values")
    if torch.isneginf(logits).all(dim=-1).any():
        raise ValueError("every logit of a row is -inf: no token is possible")
    return distribution_from_logits(logits, temperature, top_k, top_p)


def distribution_from_logits(
    logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """``next_token_distribution`` without the checks, for settings and logits already known to be valid."""
    if temperature == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    # Shift the arg-max to 0 before dividing: a tiny temperature then sends the others to -inf, never to NaN.
    shifted = logits - logits.amax(dim=-1, keepdim=True)
    logits = torch.where(shifted == 0, shifted, shifted / temperature).nan_to_num(nan=float("-inf"))
    if top_k is not None:
        kth_largest = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    probs = logits.softmax(dim=-1)
    if top_p is not None:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs  # probability of the tokens more likely than this one
        sorted_probs = sorted_probs.masked_fill(mass_before >= top_p, 0.0)  # the most likely token always stays
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs
