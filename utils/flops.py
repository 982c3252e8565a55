"""Counting floating-point operations and measuring what this machine can do: peak FLOP/s, memory bandwidth, roofline.

A multiply-add is 2 FLOPs, so a matrix product ``[m, k] @ [k, n]`` costs ``2 m k n`` and a ``Linear(in, out)`` layer
``2 * in * out`` per row (its bias adds are not counted, as is usual). Training costs about three forward passes
(forward, and backward through the inputs and the weights): the "6N rule", 6 FLOPs per parameter per token (Kaplan et
al., 2020). Attention adds products that have no parameters; PaLM's appendix B (Chowdhery et al., 2022) counts them
as ``12 * n_layer * n_embd * context`` per token for training, which ``transformer_flops_per_token`` follows.

Model FLOP utilisation (MFU) is achieved FLOP/s over peak FLOP/s. The roofline model (Williams et al., 2009) says
what to expect: a kernel doing ``I`` FLOPs per byte it moves runs at most at ``min(peak, I * bandwidth)``, so
a low-intensity step (generating one token at batch 1 reads every weight for 2 FLOPs each) is limited by memory,
not arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from utils.timing import time_call


def _check_positive_ints(**values: object) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def linear_flops(rows: int, in_features: int, out_features: int) -> int:
    """FLOPs of a ``Linear(in_features, out_features)`` on ``rows`` inputs: ``2 * rows * in * out`` (bias not counted)."""
    _check_positive_ints(rows=rows, in_features=in_features, out_features=out_features)
    return 2 * rows * in_features * out_features


def matmul_parameters(model: nn.Module) -> int:
    """Parameters used in matrix products: the weights of every ``nn.Linear`` (embeddings are lookups, biases and
    norms are a few FLOPs each). This is the N of the 6N rule."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected an nn.Module, got {type(model).__name__}")
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def transformer_flops_per_token(
    matmul_params: int, n_layer: int, n_embd: int, context: int, training: bool = True
) -> int:
    """FLOPs per token of a decoder-only Transformer on sequences of ``context`` tokens: ``2N`` for the weights plus
    ``4 * n_layer * n_embd * context`` for attention's two products (scores and weighted sum, over the full
    ``context x context`` matrix as the kernels compute it), times 3 for training (PaLM: ``6N + 12 L C T``)."""
    _check_positive_ints(matmul_params=matmul_params, n_layer=n_layer, n_embd=n_embd, context=context)
    forward = 2 * matmul_params + 4 * n_layer * n_embd * context
    return 3 * forward if training else forward


def _cpu_attention_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward_flops(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


# PyTorch's counter knows the CUDA attention kernels but not the CPU one (it would count attention as 0 FLOPs).
_EXTRA_FORMULAS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward_flops,
}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs that ``fn()`` performs in matrix products, convolutions and attention, counted by running it under
    ``torch.utils.flop_counter.FlopCounterMode`` (with the CPU attention kernel added). Elementwise operations
    (activations, norms, softmax) are not counted: they are cheap in FLOPs, though not always in time."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    with FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS) as counter:
        fn()
    return int(counter.get_total_flops())


def measure_peak_flops(
    device: torch.device | str = "cpu", size: int = 1024, dtype: torch.dtype = torch.float32, repeats: int = 5
) -> float:
    """This machine's matrix-multiply FLOP/s: the fastest of ``repeats`` ``[size, size] @ [size, size]`` products at
    ``dtype`` (``2 size^3`` FLOPs; the fastest, because a shared machine's noise only slows a repeat down). A
    practical peak, what a large well-shaped product reaches, below the data sheet."""
    _check_positive_ints(size=size, repeats=repeats)
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    timing = time_call(lambda: torch.mm(a, b), repeats=repeats, warmup=2, device=device)
    return 2 * size**3 / timing.fastest


def measure_memory_bandwidth(device: torch.device | str = "cpu", megabytes: int = 128, repeats: int = 5) -> float:
    """Bytes per second this machine moves: the fastest of ``repeats`` copies of a ``megabytes`` float32 buffer into
    another (each copy reads and writes it: ``2 * megabytes`` MB moved). Make the buffer larger than the caches."""
    _check_positive_ints(megabytes=megabytes, repeats=repeats)
    source = torch.ones(megabytes * 2**20 // 4, device=device)
    target = torch.empty_like(source)
    timing = time_call(lambda: target.copy_(source), repeats=repeats, warmup=2, device=device)
    return 2 * source.numel() * 4 / timing.fastest


def attainable_flops(intensity: float | torch.Tensor, peak_flops: float, bandwidth: float) -> float | torch.Tensor:
    """The roofline: FLOP/s at most reachable by work doing ``intensity`` FLOPs per byte moved,
    ``min(peak_flops, intensity * bandwidth)``."""
    if not peak_flops > 0 or not bandwidth > 0:
        raise ValueError(f"peak_flops and bandwidth must be positive, got {peak_flops} and {bandwidth}")
    if isinstance(intensity, torch.Tensor):
        if (intensity < 0).any() or not torch.isfinite(intensity).all():
            raise ValueError("arithmetic intensity must be finite and >= 0")
        return torch.clamp(intensity * bandwidth, max=peak_flops)
    if not 0 <= intensity < float("inf"):
        raise ValueError(f"arithmetic intensity must be finite and >= 0, got {intensity}")
    return min(peak_flops, intensity * bandwidth)
