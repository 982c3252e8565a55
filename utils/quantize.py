"""Integer quantisation of weights, from first principles: symmetric, per output channel.

A float weight matrix ``W`` ``[out, in]`` is stored as integers ``q`` in ``[-qmax, qmax]`` (``qmax = 2^(bits-1) - 1``,
127 for int8) and one float scale per row: ``W ≈ q * scale[:, None]`` with ``scale = max|W_row| / qmax``. Symmetric
(no zero point) keeps 0 exactly 0; one scale per output channel (row) keeps a row of small weights from being
rounded to nothing by a large weight elsewhere in the matrix. The rounding error of each weight is at most half a
step, ``scale / 2``. int8 storage is 4x smaller than float32, plus the scales.

Chapter 10 writes this by hand and compares it with ONNX Runtime's dynamic int8 quantisation.
"""

from __future__ import annotations

from numbers import Integral

import torch
from torch import Tensor


def _check_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, Integral) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer from 2 to 16, got {bits!r}")
    return int(bits)


def _check_weight(weight: Tensor) -> None:
    if not isinstance(weight, Tensor) or not weight.is_floating_point():
        raise TypeError("expected a floating-point weight tensor")
    if weight.dim() < 2:
        raise ValueError(f"expected a weight with an output-channel dimension first, [out, ...], got {tuple(weight.shape)}")
    if not torch.isfinite(weight.float()).all():  # float64 weights beyond float32's range would overflow the scales
        raise ValueError("the weight contains NaN or infinite values (in float32)")


def quantize_per_channel(weight: Tensor, bits: int = 8) -> tuple[Tensor, Tensor]:
    """Symmetric per-output-channel quantisation of ``weight`` ``[out, ...]``: returns ``(q, scale)``, integers ``q``
    (int8 for up to 8 bits, int16 above; same shape) and float32 scales ``[out]``. A row of zeros gets scale 1."""
    qmax = 2 ** (_check_bits(bits) - 1) - 1
    _check_weight(weight)
    rows = weight.detach().float().flatten(1)
    largest = rows.abs().amax(dim=1)
    scale = torch.where(largest > 0, largest / qmax, torch.ones_like(largest))
    q = torch.clamp(torch.round(rows / scale[:, None]), -qmax, qmax)
    dtype = torch.int8 if bits <= 8 else torch.int16
    return q.to(dtype).view(weight.shape), scale


def dequantize_per_channel(q: Tensor, scale: Tensor) -> Tensor:
    """Float32 weights ``q * scale`` from integers ``q`` ``[out, ...]`` and scales ``[out]``."""
    if q.is_floating_point() or q.dtype == torch.bool or q.dim() < 2:
        raise ValueError(f"expected integer weights [out, ...], got {q.dtype} {tuple(q.shape)}")
    if scale.shape != (q.shape[0],):
        raise ValueError(f"expected one scale per output channel, [{q.shape[0]}], got {tuple(scale.shape)}")
    if not (torch.isfinite(scale) & (scale > 0)).all():
        raise ValueError("scales must be finite and positive")
    return q.float() * scale.float().view(-1, *[1] * (q.dim() - 1))


def fake_quantize_(model: torch.nn.Module, bits: int = 8) -> int:
    """Replace, in place, the weight of every ``Linear`` and ``Conv`` layer of ``model`` by its quantised-and-
    dequantised version (what an int8 model computes, simulated in float). Returns the number of weights changed.
    (A transposed convolution's weight is ``[in, out, ...]``: its scales are per input channel, the first dimension.)"""
    _check_bits(bits)
    layers = (torch.nn.Linear, torch.nn.modules.conv._ConvNd)  # _ConvNd: every convolution, transposed or not
    changed = 0
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, layers):
                module.weight.copy_(dequantize_per_channel(*quantize_per_channel(module.weight, bits)))
                changed += module.weight.numel()
    if changed == 0:
        raise ValueError("the model has no Linear or convolution layers to quantise")
    return changed
