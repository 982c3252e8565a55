"""Evaluating generated text: how much is copied from the training text, and how varied it is.

A language model's held-out loss (nats per character) says how well it predicts real text; it says nothing about
whether its *samples* are new. Two sample statistics complete the picture, each read against the same statistic of
real held-out text, which is the reference a perfect model would match:

- **copied n-gram fraction**: the share of a sample's character n-grams that occur somewhere in the training text
  (for long n, real new text copies little, a memorising model a lot);
- **distinct-n** (Li et al., 2016): distinct word n-grams / all word n-grams of a sample (low = repetitive).
"""

from __future__ import annotations

from collections.abc import Sequence


def _check_n(n: int, name: str = "n") -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")


def _check_text(text: object, name: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")


def copied_ngram_fraction(text: str, corpus: str, n: int, stride: int = 1) -> float:
    """Share of ``text``'s character n-grams (every ``stride``-th start) that occur verbatim in ``corpus``.

    ``text`` needs at least ``n`` characters. Each n-gram is searched in ``corpus`` directly (no index is built),
    which is fast enough for samples of a few thousand characters against a corpus of a million.
    """
    _check_text(text, "text")
    _check_text(corpus, "corpus")
    _check_n(n)
    _check_n(stride, "stride")
    if len(text) < n:
        raise ValueError(f"text has {len(text)} characters, fewer than n = {n}")
    starts = range(0, len(text) - n + 1, stride)
    return sum(text[i : i + n] in corpus for i in starts) / len(starts)


def distinct_n(tokens: Sequence[str], n: int) -> float:
    """Distinct n-grams / all n-grams of a token sequence (e.g. ``text.split()``), in (0, 1]; needs >= n tokens."""
    if isinstance(tokens, str):
        raise TypeError("tokens must be a sequence of str (e.g. text.split()), got one str")
    _check_n(n)
    if len(tokens) < n:
        raise ValueError(f"{len(tokens)} tokens are fewer than n = {n}")
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams)
