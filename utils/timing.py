"""Honest timing: warm-up calls, repeats, the median and the spread, and waiting for the GPU to finish.

One call timed once tells little: the first call pays for memory allocation, kernel selection or compilation, and a
shared machine adds noise. ``time_call`` warms up, then times every repeat separately, and ``Timing`` reports the
median with the spread around it. On CUDA the GPU runs asynchronously, so a clock read right after a call measures
only the launch: ``synchronize`` waits for the device before each clock read. To compare two ways of doing the same
thing on a noisy machine, time them in one run, taking turns (``time_interleaved``), and report the ratio of medians
(``speedup``), never an absolute time from another run.

Chapters 09 and 10 measure every optimisation with these helpers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral

import torch


@dataclass(frozen=True)
class Timing:
    """The wall-clock seconds of each timed repeat of one call (warm-up calls excluded)."""

    seconds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.seconds:
            raise ValueError("a Timing needs at least one measured repeat")
        if any(not (s >= 0 and s < float("inf")) for s in self.seconds):  # also refuses NaN
            raise ValueError(f"times must be finite and >= 0 seconds, got {self.seconds}")

    @property
    def repeats(self) -> int:
        return len(self.seconds)

    @property
    def median(self) -> float:
        """Median seconds per call: robust to the odd slow repeat a shared machine adds."""
        return statistics.median(self.seconds)

    @property
    def fastest(self) -> float:
        """The fastest repeat in seconds: what the hardware can do when nothing else gets in the way (noise on a
        shared machine only ever slows a call down). Use it for peaks; use the median for typical speed."""
        return min(self.seconds)

    @property
    def spread(self) -> float:
        """Interquartile range in seconds (0 for fewer than 2 repeats): how much a repeat varies around the median."""
        if self.repeats < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.seconds, n=4, method="inclusive")
        return q3 - q1

    @property
    def relative_spread(self) -> float:
        """``spread / median`` (0 when the median is 0)."""
        return self.spread / self.median if self.median > 0 else 0.0

    def __str__(self) -> str:
        return f"{1000 * self.median:.2f} ms ± {1000 * self.spread / 2:.2f} (median ± half IQR of {self.repeats})"


def synchronize(device: torch.device | str | None) -> None:
    """Wait until every queued kernel on ``device`` has finished (CUDA and MPS run asynchronously; CPU: nothing)."""
    if device is None:
        return
    kind = torch.device(device).type
    if kind == "cuda":
        torch.cuda.synchronize(device)
    elif kind == "mps":
        torch.mps.synchronize()


def _check_counts(repeats: object, warmup: object) -> None:
    for name, value, smallest in (("repeats", repeats, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if value < smallest:
            raise ValueError(f"{name} must be at least {smallest}, got {value}")


def _check_callable(fn: object, name: str = "fn") -> None:
    if not callable(fn):
        raise TypeError(f"{name} must be callable, got {type(fn).__name__}")


def _timed(fn: Callable[[], object], device: torch.device | str | None) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def time_call(
    fn: Callable[[], object], repeats: int = 5, warmup: int = 1, device: torch.device | str | None = None
) -> Timing:
    """Call ``fn()`` ``warmup`` times untimed, then ``repeats`` times, each timed on its own (synchronising
    ``device`` before and after, so that GPU work is counted). Returns the ``Timing`` of the repeats."""
    _check_callable(fn)
    _check_counts(repeats, warmup)
    for _ in range(warmup):
        fn()
    return Timing(tuple(_timed(fn, device) for _ in range(repeats)))


def time_interleaved(
    fns: Mapping[str, Callable[[], object]],
    repeats: int = 5,
    warmup: int = 1,
    device: torch.device | str | None = None,
) -> dict[str, Timing]:
    """Time several calls taking turns (a, b, c, a, b, c, ...), so that a slow spell of a shared machine hits them
    all alike. Each gets ``warmup`` untimed calls first. Returns ``{name: Timing}`` in the order given."""
    if not isinstance(fns, Mapping) or not fns:
        raise ValueError("give the calls to compare as a non-empty {name: fn} mapping")
    for name, fn in fns.items():
        _check_callable(fn, f"fns[{name!r}]")
    _check_counts(repeats, warmup)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            seconds[name].append(_timed(fn, device))
    return {name: Timing(tuple(values)) for name, values in seconds.items()}


def speedup(baseline: Timing, candidate: Timing) -> float:
    """How many times faster ``candidate`` is than ``baseline``: the ratio of their medians (> 1: faster)."""
    if not isinstance(baseline, Timing) or not isinstance(candidate, Timing):
        raise TypeError("speedup compares two Timing objects (from time_call or time_interleaved)")
    if candidate.median <= 0:
        raise ValueError("the candidate's median time is 0: time more work per call")
    return baseline.median / candidate.median
