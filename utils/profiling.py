"""Where the time and the memory go: ``torch.profiler`` summarised as a table of operators, the share of time spent in
matrix products, and the peak memory of a call.

``profile_call`` runs a function under the profiler; ``operator_table`` lists the operators by *self* time (time in
the operator itself, not in the operators it calls, so that the rows add up to the total); ``matmul_share`` is the
fraction of that time in matrix products, convolutions and attention kernels, the work a GPU's tensor cores or a
CPU's vector units are built for; ``callers`` says which operators call a given one (who makes all those copies?). ``peak_memory_bytes`` reads ``torch.cuda.max_memory_allocated`` on CUDA and, on
the CPU, replays the profiler's allocation and free events in order.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from utils.timing import synchronize

# Operators that do the heavy arithmetic: matrix products (mm, addmm, bmm, baddbmm), convolutions and fused attention.
MATMUL_PATTERN = re.compile(r"mm\b|conv|attention", re.IGNORECASE)


@contextlib.contextmanager
def _quiet_native_logs() -> Iterator[None]:
    """Send the C++ side's stderr (the profiler's start/stop log lines) to /dev/null for the duration."""
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
        saved = os.dup(fd)
    except (OSError, ValueError, AttributeError):  # no real stderr (some embedded interpreters): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _activities(device: torch.device | str | None) -> list[ProfilerActivity]:
    if device is not None and torch.device(device).type == "cuda":
        return [ProfilerActivity.CPU, ProfilerActivity.CUDA]
    return [ProfilerActivity.CPU]


def profile_call(
    fn: Callable[[], object], device: torch.device | str | None = None, profile_memory: bool = False
) -> profile:
    """Run ``fn()`` once under ``torch.profiler`` (CPU, and CUDA kernels on a CUDA ``device``); return the profiler."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    with _quiet_native_logs(), profile(activities=_activities(device), profile_memory=profile_memory) as prof:
        fn()
        synchronize(device)
    return prof


@dataclass(frozen=True)
class OperatorTime:
    """One row of ``operator_table``: an operator, its self time in ms, its share of the total and its calls."""

    name: str
    milliseconds: float
    share: float
    calls: int


def _self_microseconds(event, on_device: bool) -> float:
    return event.self_device_time_total if on_device else event.self_cpu_time_total


def operator_table(prof: profile, top: int = 10, device: torch.device | str | None = None) -> list[OperatorTime]:
    """The ``top`` operators by self time (device time on CUDA, CPU time otherwise), largest first."""
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    on_device = device is not None and torch.device(device).type == "cuda"
    # On CUDA each kernel appears twice: as its own row and inside the operator that launched it. Keep the operators
    # (CPU-side rows, named aten::...), each with the GPU time of the kernels it launched.
    events = [e for e in prof.key_averages() if e.device_type == DeviceType.CPU and _self_microseconds(e, on_device) > 0]
    total = sum(_self_microseconds(e, on_device) for e in events)
    if total <= 0:
        raise ValueError("the profile recorded no operator time: profile a call that runs PyTorch operators")
    events.sort(key=lambda e: _self_microseconds(e, on_device), reverse=True)
    return [
        OperatorTime(e.key, _self_microseconds(e, on_device) / 1000, _self_microseconds(e, on_device) / total, e.count)
        for e in events[:top]
    ]


def matmul_share(prof: profile, device: torch.device | str | None = None) -> float:
    """Fraction of the profiled self time spent in matrix products, convolutions and attention (``MATMUL_PATTERN``)."""
    table = operator_table(prof, top=10**9, device=device)
    return sum(row.share for row in table if MATMUL_PATTERN.search(row.name))


def callers(prof: profile, operator: str, depth: int = 2) -> list[tuple[str, float]]:
    """Who calls ``operator`` (e.g. ``"aten::copy_"``): its CPU self time in ms grouped by the chain of up to ``depth``
    enclosing operators (``"aten::clone < aten::contiguous"``: called by clone, called by contiguous), largest
    first. The operator table says *what* takes the time; this says *why* it runs."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    totals: dict[str, float] = {}
    for event in prof.events():
        if event.name != operator:
            continue
        chain, parent = [], event.cpu_parent
        while parent is not None and len(chain) < depth:
            chain.append(parent.name)
            parent = parent.cpu_parent
        key = " < ".join(chain) or "(called from Python)"
        totals[key] = totals.get(key, 0.0) + event.self_cpu_time_total / 1000
    if not totals:
        raise ValueError(f"the profile has no {operator!r} calls")
    return sorted(totals.items(), key=lambda item: item[1], reverse=True)


def peak_memory_bytes(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """The most memory ``fn()`` holds at once beyond what was allocated before it, in bytes. CUDA: from the
    allocator's peak statistic; CPU: the running sum of the profiler's allocations and frees, in time order. The CPU
    profiler records each operator's *net* allocation, so scratch memory an operator allocates and frees inside
    itself is missed: a lower bound, exact for memory that outlives the operators (activations)."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    device = torch.device(device)
    if device.type == "cuda":
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - before)
    if device.type != "cpu":
        raise ValueError(f"peak memory is measured on CPU and CUDA, not {device.type}")
    prof = profile_call(fn, profile_memory=True)
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    held = peak = 0
    for event in events:  # "[memory]" events are frees outside an operator; operators carry their own net allocations
        held += event.cpu_memory_usage if event.name == "[memory]" else event.self_cpu_memory_usage
        peak = max(peak, held)
    return int(peak)
