"""Text as tensors for character-level models: vocabularies, a seeded split of names, and batching.

Names are modelled as sequences of characters followed by an end token ``"."``; the same token starts every
sequence, so a model learns both how names begin and when they stop (makemore's convention). Losses are reported
in nats per character, counting the end token as a character. Running text (Tiny Shakespeare) is one long stream
of ids: ``random_windows`` cuts training batches out of it and ``text_windows`` tiles it for evaluation.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

END = "."  # marks both the start and the end of a name
IGNORE_INDEX = -1  # target value of padding positions, skipped by the loss


class CharVocab:
    """A mapping between characters and integer ids.

    For names (``end=END``, the default) id 0 is the end token ``"."`` and the other characters follow in sorted
    order; for running text (``end=None``, see ``of_text``) the ids are the sorted characters, as in nanoGPT.
    """

    def __init__(self, chars: Iterable[str], end: str | None = END):
        chars = set(chars) - {end}
        if not all(isinstance(c, str) for c in chars):
            types = sorted({type(c).__name__ for c in chars})
            raise TypeError(f"a CharVocab holds single characters (str), got {types}")
        wrong = sorted(repr(c) for c in chars if len(c) != 1)
        if wrong:
            raise ValueError(f"a CharVocab holds single characters, got {', '.join(wrong)}")
        chars = sorted(chars)
        self.end = end
        self.itos: list[str] = [end, *chars] if end is not None else chars
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def of_text(cls, text: str) -> CharVocab:
        """The sorted set of the characters of ``text``, without an end token (nanoGPT's character vocabulary)."""
        return cls(text, end=None)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> CharVocab:
        """The vocabulary of every character that occurs in ``texts``, plus the end token."""
        return cls(c for text in texts for c in text)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> Tensor:
        """``"emma"`` -> ids ``[4]`` (int64).

        A character outside the vocabulary is a ``ValueError``, and so is the end token inside a name (``"em.ma"``):
        it would silently end the name there.
        """
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}")
        if self.end is not None and self.end in text:
            raise ValueError(
                f"the end token {self.end!r} may not appear in a name (it marks where a name ends), found at "
                f"position {text.index(self.end)} of {text!r}"
            )
        unknown = sorted({c for c in text if c not in self.stoi})
        if unknown:
            allowed = "".join(c for c in self.itos if c != self.end)
            raise ValueError(f"characters {unknown} are not in the vocabulary; allowed: {allowed!r}")
        return torch.tensor([self.stoi[c] for c in text], dtype=torch.long)

    def decode(self, ids: Iterable[int] | Tensor) -> str:
        """Ids -> text; the end token (if any) is kept as ``"."``."""
        ids = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
            raise TypeError(f"ids must be integers in 0..{len(self.itos) - 1}")
        if any(not 0 <= i < len(self.itos) for i in ids):
            raise ValueError(f"ids must lie in 0..{len(self.itos) - 1}")
        return "".join(self.itos[i] for i in ids)


def _check_names(names: Sequence[str]) -> None:
    """Raise ``TypeError`` unless ``names`` is a sequence of str (one str would be read as one name per letter)."""
    if isinstance(names, str):
        raise TypeError(f"names must be a list of str, got one str {names!r}")
    types = sorted({type(name).__name__ for name in names} - {"str"})
    if types:
        raise TypeError(f"names must be a list of str, got items of type {', '.join(types)}")


def split_names(
    names: Sequence[str], seed: int = 42, fractions: tuple[float, float] = (0.8, 0.1)
) -> tuple[list[str], list[str], list[str]]:
    """Shuffle ``names`` with ``seed`` and cut them into train / dev / test (80% / 10% / 10% by default)."""
    _check_names(names)
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
    _check_names(names)
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
    _check_names(names)
    contexts, targets = [], []
    for name in names:
        context = [0] * block_size
        for i in [*vocab.encode(name).tolist(), 0]:
            contexts.append(context)
            targets.append(i)
            context = [*context[1:], i]
    return torch.tensor(contexts, dtype=torch.long), torch.tensor(targets, dtype=torch.long)


def _check_stream(ids: Tensor) -> None:
    if not isinstance(ids, Tensor) or ids.dim() != 1 or ids.dtype != torch.long:
        got = f"{tuple(ids.shape)} {ids.dtype}" if isinstance(ids, Tensor) else type(ids).__name__
        raise ValueError(f"expected a token stream [N] of int64 ids, got {got}")


def text_windows(ids: Tensor, block_size: int) -> tuple[Tensor, Tensor]:
    """Consecutive, non-overlapping windows of a token stream ``ids`` ``[N]``, for evaluating a language model.

    Returns inputs and targets ``[N // block_size, block_size]`` (targets shifted one token ahead); tokens that do not
    fill a last window are dropped. Averaged over all windows, the loss weighs every context length from 1 to
    ``block_size`` equally, as nanoGPT's ``estimate_loss`` does in expectation.
    """
    _check_stream(ids)
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    n = (len(ids) - 1) // block_size
    if n == 0:
        raise ValueError(f"a stream of {len(ids)} tokens holds no window of {block_size} + 1")
    x = ids[: n * block_size].view(n, block_size)
    y = ids[1 : n * block_size + 1].view(n, block_size)
    return x, y


def random_windows(
    ids: Tensor, block_size: int, batch_size: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """A training batch from a token stream ``ids`` ``[N]``: windows at random offsets (nanoGPT's ``get_batch``).

    Returns inputs and targets ``[batch_size, block_size]`` on ``ids``'s device; ``generator`` is a CPU generator.
    """
    _check_stream(ids)
    if not 1 <= block_size < len(ids):
        raise ValueError(f"block_size must be between 1 and {len(ids) - 1} for {len(ids)} tokens, got {block_size}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator)
    offsets = starts[:, None] + torch.arange(block_size + 1)  # [B, T + 1]
    window = ids[offsets.to(ids.device)]
    return window[:, :-1], window[:, 1:]


def shakespeare_characters(train_fraction: float = 0.9) -> tuple[CharVocab, Tensor, Tensor]:
    """Tiny Shakespeare as nanoGPT's ``shakespeare_char`` prepares it: ``(vocab, train_ids [N_train], val_ids [N_val])``.

    The vocabulary is the sorted set of the text's 65 characters; the first 90% of the text trains, the rest validates.
    """
    from utils.data import load_tiny_shakespeare

    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be between 0 and 1, got {train_fraction}")
    text = load_tiny_shakespeare()
    vocab = CharVocab.of_text(text)
    ids = vocab.encode(text)
    n_train = int(train_fraction * len(ids))
    return vocab, ids[:n_train], ids[n_train:]
