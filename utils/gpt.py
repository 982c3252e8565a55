"""The reference GPT: a decoder-only Transformer over characters, with generation from a key/value cache.

Built up in chapter 06 and written here the way nanoGPT's ``model.py`` is: a config dataclass, causal
self-attention, an MLP, a pre-norm block with residuals, and the model. ``GPT.forward(idx [B, T]) -> logits
[B, T, V]``; ``GPT.generate`` continues a prompt with or without a ``KVCache`` and, greedy or seeded, gives the same
tokens either way.

Positions are learned embeddings for ``0 .. block_size - 1``. A cached key was computed at its position in the window
it was encoded in, so a cache cannot slide along the text one token at a time. Both generation paths therefore
share one context policy: when the window is full, the oldest half of it is dropped and generation goes on from the
newest ``block_size // 2`` tokens (the cache re-encodes them in one pass).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from utils.modes import eval_mode
from utils.sampling import check_sampling_settings, distribution_from_logits


@dataclass
class GPTConfig:
    """Sizes of a GPT. The defaults are the course's CPU model for Tiny Shakespeare characters."""

    vocab_size: int = 65
    block_size: int = 64  # the longest context the model sees
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 96
    dropout: float = 0.0


def check_config(config: GPTConfig) -> None:
    """Raise ``ValueError`` for sizes no GPT can have (``n_layer`` 0 is allowed: embeddings and read-out only)."""
    for name in ("vocab_size", "block_size", "n_head", "n_embd"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.n_layer < 0:
        raise ValueError(f"n_layer must be >= 0, got {config.n_layer}")
    if config.n_embd % config.n_head:
        raise ValueError(f"n_embd ({config.n_embd}) must be divisible by n_head ({config.n_head})")
    if not 0 <= config.dropout < 1:  # also refuses NaN
        raise ValueError(f"dropout must be in [0, 1), got {config.dropout}")


class KVCache:
    """The keys and values of every layer for the tokens seen so far, in pre-allocated buffers.

    ``keys[layer]`` and ``values[layer]`` are ``[B, n_head, block_size, head_size]``; positions ``0 .. length - 1``
    hold data.
    """

    def __init__(self, config: GPTConfig, batch_size: int, device: torch.device, dtype: torch.dtype = torch.float32):
        shape = (batch_size, config.n_head, config.block_size, config.n_embd // config.n_head)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.block_size = config.block_size
        self.length = 0  # tokens cached; advanced by GPT.forward after all layers have written

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store ``k``, ``v`` ``[B, n_head, T, head_size]`` after the cached ones; return all keys and values so far."""
        start, stop = self.length, self.length + k.shape[2]
        if stop > self.block_size:
            raise ValueError(
                f"the cache holds {self.block_size} positions; {start} are used and {k.shape[2]} more came"
            )
        self.keys[layer][:, :, start:stop] = k
        self.values[layer][:, :, start:stop] = v
        return self.keys[layer][:, :, :stop], self.values[layer][:, :, :stop]


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t attends to positions <= t only."""

    def __init__(self, config: GPTConfig, layer: int = 0):
        super().__init__()
        check_config(config)
        self.n_head, self.layer, self.dropout = config.n_head, layer, config.dropout
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)  # queries, keys and values of all heads at once
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.dropout)

    def heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values of every head: ``x`` ``[B, T, C]`` -> three ``[B, n_head, T, C // n_head]``."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        return tuple(t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))

    def forward(self, x: Tensor, cache: KVCache | None = None) -> Tensor:
        """``x`` ``[B, T, C]`` -> ``[B, T, C]``; with a ``cache``, ``x`` continues the cached tokens."""
        B, T, C = x.shape
        q, k, v = self.heads(x)
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.append(self.layer, k, v)  # [B, nh, past + T, hs]
        dropout = self.dropout if self.training else 0.0
        if past == 0:  # a fresh sequence: query t sees keys 0 .. t
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        elif T == 1:  # one new token after the cached ones: it sees them all
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        else:  # several new tokens: query i sits at position past + i and sees keys 0 .. past + i
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again
        return self.resid_dropout(self.proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward network: C -> 4C -> GELU -> C."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """Pre-norm Transformer block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: GPTConfig, layer: int = 0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config, layer)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, cache: KVCache | None = None) -> Tensor:
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Token and position embeddings -> ``n_layer`` blocks -> final norm -> logits over the vocabulary."""

    def __init__(self, config: GPTConfig | None = None):
        super().__init__()
        self.config = config = config or GPTConfig()
        check_config(config)
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embedding = nn.Embedding(config.block_size, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config, layer) for layer in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections by 1/sqrt(2 * n_layer)
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: Tensor, cache: KVCache | None = None) -> Tensor:
        """Token ids ``idx`` ``[B, T]`` (int64) -> next-token logits ``[B, T, vocab_size]``.

        With a ``cache``, ``idx`` continues the cached tokens: their positions start at ``cache.length``, and the
        cache is extended by ``T``.
        """
        self._check_ids(idx, cache.length if cache is not None else 0)
        return self._logits(idx, cache)

    def _check_ids(self, idx: Tensor, past: int = 0) -> None:
        if idx.dim() != 2 or idx.dtype != torch.long:
            raise ValueError(f"expected token ids [B, T] of dtype int64, got {tuple(idx.shape)} {idx.dtype}")
        if past + idx.shape[1] > self.config.block_size:
            raise ValueError(
                f"{past + idx.shape[1]} positions exceed block_size {self.config.block_size}; crop the input to its "
                f"last {self.config.block_size - past} tokens"
            )
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
            raise ValueError(f"token ids must lie in 0..{self.config.vocab_size - 1}")

    def embed(self, idx: Tensor, past: int = 0) -> Tensor:
        """Token plus position embeddings ``[B, T, C]`` of ids ``idx`` ``[B, T]`` at positions ``past .. past + T - 1``."""
        positions = torch.arange(past, past + idx.shape[1], device=idx.device)
        return self.token_embedding(idx) + self.position_embedding(positions)

    def _logits(self, idx: Tensor, cache: KVCache | None) -> Tensor:
        """``forward`` without the input checks, for ids already known to be valid (inside ``generate``)."""
        past = cache.length if cache is not None else 0
        x = self.dropout(self.embed(idx, past))
        for block in self.blocks:
            x = block(x, cache)
        if cache is not None:
            cache.length += idx.shape[1]
        return self.lm_head(self.ln_f(x))

    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
        logits_processor: Callable[[Tensor, Tensor], Tensor] | None = None,
    ) -> Tensor:
        """Continue the prompts ``idx`` ``[B, T]`` by ``max_new_tokens`` tokens: returns ``[B, T + max_new_tokens]``.

        ``temperature`` 0 is greedy decoding; ``top_k`` and ``top_p`` (nucleus) restrict sampling as in
        ``utils.sampling.next_token_distribution``. With or without ``use_cache`` the output is the same (up to
        floating-point ties): the context is the newest tokens since the window last moved (see the module
        docstring); the cache just avoids recomputing their keys and values. ``generator`` (on the model's device)
        makes sampling reproducible. ``logits_processor(ids [B, t], logits [B, V]) -> logits [B, V]``, if given,
        changes each step's next-token logits before sampling, seeing every token so far (e.g. a watermark).
        """
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, Integral):
            raise TypeError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        check_sampling_settings(temperature, top_k, top_p, self.config.vocab_size)
        if idx.dim() != 2 or idx.shape[1] == 0:
            raise ValueError(f"expected a non-empty prompt of token ids [B, T], got shape {tuple(idx.shape)}")
        B, T = idx.shape
        block, keep = self.config.block_size, max(1, self.config.block_size // 2)
        start = max(0, T - block)  # where the context window begins
        self._check_ids(idx[:, start:])  # generated ids are valid by construction
        with eval_mode(self), torch.inference_mode():  # inference mode: no autograd bookkeeping per call
            out = torch.empty(B, T + max_new_tokens, dtype=torch.long, device=idx.device)
            out[:, :T] = idx
            cache = KVCache(self.config, B, idx.device, self.lm_head.weight.dtype) if use_cache else None
            logits = self._logits(idx[:, start:], cache)[:, -1]
            for t in range(T, T + max_new_tokens):
                if logits_processor is not None:
                    logits = logits_processor(out[:, :t], logits)
                    if logits.shape != (B, self.config.vocab_size):
                        raise ValueError(f"logits_processor returned shape {tuple(logits.shape)}, expected "
                                         f"{(B, self.config.vocab_size)}")
                if temperature == 0:  # greedy: skip building a one-hot distribution
                    out[:, t] = logits.argmax(dim=-1)
                else:
                    probs = distribution_from_logits(logits.float(), temperature, top_k, top_p)
                    out[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
                if t == T + max_new_tokens - 1:
                    break
                if t + 1 - start > block:  # the window is full: keep its newest `keep` tokens
                    start = t + 1 - keep
                    if cache is not None:
                        cache.length = 0
                        logits = self._logits(out[:, start : t + 1], cache)[:, -1]
                        continue
                if cache is not None:
                    logits = self._logits(out[:, t : t + 1], cache)[:, -1]
                else:
                    logits = self._logits(out[:, start : t + 1], None)[:, -1]
        return out.clone()  # a normal tensor again, usable in autograd


@torch.no_grad()
def attention_maps(model: GPT, idx: Tensor) -> Tensor:
    """The attention weights of every layer and head for one sequence: ``idx`` ``[1, T]`` -> ``[n_layer, n_head, T, T]``.

    Row ``t`` of a map is the distribution over positions ``0 .. t`` that position ``t`` reads from; it is recomputed
    from each layer's queries and keys, since ``scaled_dot_product_attention`` does not return it.
    """
    if idx.dim() != 2 or idx.shape[0] != 1 or idx.shape[1] == 0:
        raise ValueError(f"expected one sequence of token ids [1, T] with T >= 1, got shape {tuple(idx.shape)}")
    model._check_ids(idx)  # int64 ids in the vocabulary, at most block_size of them
    with eval_mode(model):
        T = idx.shape[1]
        x = model.embed(idx)
        maps = []
        for block in model.blocks:
            q, k, _ = block.attn.heads(block.ln_1(x))  # [1, nh, T, hs]
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            causal = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril()
            maps.append(scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)[0])
            x = block(x)
    return torch.stack(maps)


def lm_loss(model: nn.Module, idx: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy (nats per token) of ``model(idx)`` against ``targets``, both ``[B, T]``."""
    if targets.shape != idx.shape:
        raise ValueError(f"targets {tuple(targets.shape)} must have the shape of the ids {tuple(idx.shape)}")
    logits = model(idx)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


@torch.no_grad()
def evaluate_lm(
    model: nn.Module, inputs: Tensor, targets: Tensor, loss_fn: Callable[..., Tensor] = lm_loss, batch_size: int = 256
) -> float:
    """Mean loss (nats per token) of ``model`` on windows ``inputs``, ``targets`` ``[N, T]``, in eval mode and batches.

    ``loss_fn(model, x, y)`` defaults to ``lm_loss``; pass ``utils.charlm.sequence_loss`` for a recurrent model.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if inputs.shape != targets.shape or inputs.dim() != 2 or len(inputs) == 0:
        raise ValueError(
            f"expected inputs and targets [N, T] with N >= 1, got {tuple(inputs.shape)}, {tuple(targets.shape)}"
        )
    with eval_mode(model):
        total = 0.0
        for i in range(0, len(inputs), batch_size):
            x, y = inputs[i : i + batch_size], targets[i : i + batch_size]
            total += loss_fn(model, x, y).item() * len(x)
    return total / len(inputs)
