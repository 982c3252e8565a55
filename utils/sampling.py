"""Choosing the next token of a language model: temperature, top-k and top-p (nucleus) filtering.

Shared by chapter 03's recurrent models (``utils.charlm.sample``) and chapter 06's GPT (``GPT.generate``): both
turn the logits of the last position into a distribution with ``next_token_distribution`` and draw from it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def next_token_distribution(
    logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """Probabilities ``[B, V]`` from logits ``[B, V]``.

    Divide by ``temperature`` (0 puts all mass on the arg-max: greedy decoding), keep the ``top_k`` largest, then keep
    the smallest set of most likely tokens whose probability reaches ``top_p`` (nucleus sampling), and renormalise.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and not 1 <= top_k <= logits.shape[-1]:
        raise ValueError(f"top_k must be between 1 and {logits.shape[-1]}, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if temperature == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    logits = logits / temperature
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
