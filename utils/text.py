"""Text as tensors for character-level models: a vocabulary with an end token, a seeded split, and batching.

Names are modelled as sequences of characters followed by an end token ``"."``; the same token starts every
sequence, so a model learns both how names begin and when they stop (makemore's convention). Losses are reported
in nats per character, counting the end token as a character.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

END = "."  # marks both the start and the end of a name
IGNORE_INDEX = -1  # target value of padding positions, skipped by the loss


class CharVocab:
    """A mapping between characters and integer ids; id 0 is the end token ``"."``."""

    def __init__(self, chars: Iterable[str]):
        chars = sorted(set(chars) - {END})
        if any(len(c) != 1 for c in chars):
            raise ValueError("a CharVocab holds single characters")
        self.itos: list[str] = [END, *chars]
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> CharVocab:
        """The vocabulary of every character that occurs in ``texts``, plus the end token."""
        return cls(c for text in texts for c in text)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> Tensor:
        """``"emma"`` -> ids ``[4]`` (int64); a character outside the vocabulary is a ``ValueError``."""
        unknown = sorted({c for c in text if c not in self.stoi})
        if unknown:
            raise ValueError(
                f"characters {unknown} are not in the vocabulary; allowed: {''.join(self.itos[1:])!r} (and {END!r})"
            )
        return torch.tensor([self.stoi[c] for c in text], dtype=torch.long)

    def decode(self, ids: Iterable[int] | Tensor) -> str:
        """Ids -> text; the end token is kept as ``"."``."""
        ids = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        if any(not 0 <= i < len(self.itos) for i in ids):
            raise ValueError(f"ids must lie in 0..{len(self.itos) - 1}")
        return "".join(self.itos[i] for i in ids)


def split_names(
    names: Sequence[str], seed: int = 42, fractions: tuple[float, float] = (0.8, 0.1)
) -> tuple[list[str], list[str], list[str]]:
    """Shuffle ``names`` with ``seed`` and cut them into train / dev / test (80% / 10% / 10% by default)."""
    train_fraction, dev_fraction = fractions
    if not (0 < train_fraction and 0 <= dev_fraction and train_fraction + dev_fraction < 1):
        raise ValueError(f"fractions must be positive and sum to less than 1, got {fractions}")
    shuffled = list(names)
    random.Random(seed).shuffle(shuffled)
    n_train = int(train_fraction * len(shuffled))
    n_dev = int(dev_fraction * len(shuffled))
    return shuffled[:n_train], shuffled[n_train : n_train + n_dev], shuffled[n_train + n_dev :]


def name_sequences(names: Sequence[str], vocab: CharVocab) -> tuple[Tensor, Tensor]:
    """Inputs and targets ``[N, T]`` (int64) for next-character prediction, T = longest name + 1.

    For ``"ava"``: inputs ``. a v a`` and targets ``a v a .``; positions past the end hold ``END`` in the inputs
    and ``IGNORE_INDEX`` in the targets.
    """
    if not names:
        raise ValueError("name_sequences needs at least one name")
    length = max(len(name) for name in names) + 1
    inputs = torch.zeros(len(names), length, dtype=torch.long)
    targets = torch.full((len(names), length), IGNORE_INDEX, dtype=torch.long)
    for row, name in enumerate(names):
        ids = vocab.encode(name)
        inputs[row, 1 : len(ids) + 1] = ids
        targets[row, : len(ids)] = ids
        targets[row, len(ids)] = 0  # the end token
    return inputs, targets


def context_windows(names: Sequence[str], vocab: CharVocab, block_size: int) -> tuple[Tensor, Tensor]:
    """Fixed-context examples for a model of p(next char | previous ``block_size`` chars).

    Returns contexts ``[M, block_size]`` and next characters ``[M]``, one example per character of every name
    (and its end token); the context before a name starts is padded with ``END``.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    contexts, targets = [], []
    for name in names:
        context = [0] * block_size
        for i in [*vocab.encode(name).tolist(), 0]:
            contexts.append(context)
            targets.append(i)
            context = [*context[1:], i]
    return torch.tensor(contexts, dtype=torch.long), torch.tensor(targets, dtype=torch.long)
