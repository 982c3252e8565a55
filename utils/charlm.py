"""The reference character-level language model (RNN, LSTM or GRU) and its sampler.

``CharRNN`` maps ids ``[B, T]`` to next-character logits ``[B, T, V]``: an embedding, a stack of recurrent layers
and a linear read-out. ``sequence_loss`` is the mean cross-entropy in nats per character over non-padding
targets; ``sample`` generates text one character at a time with temperature, top-k and top-p.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from utils.modes import eval_mode
from utils.sampling import check_sampling_settings, distribution_from_logits
from utils.text import END, IGNORE_INDEX, CharVocab

_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@dataclass
class CharRNNConfig:
    """Sizes of a character-level recurrent model."""

    vocab_size: int = 27
    cell: str = "gru"  # "rnn" (tanh), "lstm" or "gru"
    embedding_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.1  # between recurrent layers and before the read-out


class CharRNN(nn.Module):
    """Embedding -> recurrent layers -> dropout -> linear read-out."""

    def __init__(self, config: CharRNNConfig | None = None):
        super().__init__()
        self.config = config = config or CharRNNConfig()
        if config.cell not in _CELLS:
            raise ValueError(f"unknown cell {config.cell!r}; choose one of {', '.join(_CELLS)}")
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            if getattr(config, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
        if not 0 <= config.dropout < 1:  # also refuses NaN
            raise ValueError(f"dropout must be in [0, 1), got {config.dropout}")
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.rnn = _CELLS[config.cell](
            config.embedding_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.readout = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, ids: Tensor, state: Tensor | tuple[Tensor, Tensor] | None = None):
        """Ids ``[B, T]`` (int64) -> (logits ``[B, T, vocab_size]``, final recurrent state)."""
        if ids.dim() != 2 or ids.dtype != torch.long:
            raise ValueError(f"expected token ids [B, T] of dtype int64, got {tuple(ids.shape)} {ids.dtype}")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise ValueError(f"token ids must lie in 0..{self.config.vocab_size - 1}")
        hidden, state = self.rnn(self.embedding(ids), state)
        return self.readout(self.dropout(hidden)), state


def sequence_loss(model: nn.Module, inputs: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy (nats per character) of ``model(inputs)`` against ``targets`` ``[B, T]``, skipping padding.

    Columns that are padding in every row are cut off first, so a batch of short names costs less.
    """
    if inputs.shape != targets.shape or inputs.dim() != 2:
        raise ValueError(f"expected inputs and targets [B, T] of one shape, got {tuple(inputs.shape)}, "
                         f"{tuple(targets.shape)}")
    length = int((targets != IGNORE_INDEX).sum(dim=1).max())
    if length == 0:
        raise ValueError(f"every target is padding ({IGNORE_INDEX}): the batch has nothing to predict")
    inputs, targets = inputs[:, :length], targets[:, :length]
    logits, _ = model(inputs)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)


@torch.no_grad()
def evaluate_nll(model: nn.Module, inputs: Tensor, targets: Tensor, batch_size: int = 1024) -> float:
    """Negative log-likelihood in nats per character over all non-padding targets (eval mode, batched)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if inputs.shape != targets.shape or inputs.dim() != 2:
        raise ValueError(f"expected inputs and targets [N, T] of one shape, got {tuple(inputs.shape)}, "
                         f"{tuple(targets.shape)}")
    if not (targets != IGNORE_INDEX).any():
        raise ValueError(f"no target to score: the targets are empty or all padding ({IGNORE_INDEX})")
    total, count = 0.0, 0
    with eval_mode(model):
        for i in range(0, len(inputs), batch_size):
            logits, _ = model(inputs[i : i + batch_size])
            y = targets[i : i + batch_size].flatten()
            total += F.cross_entropy(logits.flatten(0, 1), y, ignore_index=IGNORE_INDEX, reduction="sum").item()
            count += (y != IGNORE_INDEX).sum().item()
    return total / count


@torch.no_grad()
def sample(
    model: nn.Module,
    vocab: CharVocab,
    n: int,
    *,
    prefix: str = "",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    max_length: int = 30,
    generator: torch.Generator | None = None,
) -> list[str]:
    """Generate ``n`` names that start with ``prefix``, each ending at the end token or after ``max_length`` chars.

    The model runs in eval mode on its own device; ``generator`` (a CPU generator) makes sampling reproducible.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if END in prefix:
        raise ValueError(f"the prefix may not contain the end token {END!r}")
    prefix_ids = vocab.encode(prefix).tolist()  # ValueError for characters outside the vocabulary
    if max_length <= len(prefix_ids):
        raise ValueError(
            f"max_length must exceed the prefix's {len(prefix_ids)} characters (room for one more), got {max_length}"
        )
    model_vocab = getattr(getattr(model, "config", None), "vocab_size", len(vocab))
    if model_vocab != len(vocab):
        raise ValueError(f"the vocabulary has {len(vocab)} symbols but the model predicts {model_vocab}: "
                         "pass the vocabulary the model was trained with")
    check_sampling_settings(temperature, top_k, top_p, len(vocab))
    device = next(model.parameters()).device
    with eval_mode(model):
        ids = torch.tensor([[0, *prefix_ids]] * n, device=device)
        logits, state = model(ids)
        names = [list(prefix_ids) for _ in range(n)]
        finished = torch.zeros(n, dtype=torch.bool)
        for _ in range(max_length - len(prefix_ids)):
            probs = distribution_from_logits(logits[:, -1].float().cpu(), temperature, top_k, top_p)
            next_ids = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            for row in (~finished).nonzero().flatten().tolist():
                if next_ids[row] == 0:
                    finished[row] = True
                else:
                    names[row].append(next_ids[row].item())
            if finished.all():
                break
            logits, state = model(next_ids.view(n, 1).to(device), state)
    return [vocab.decode(name) for name in names]
