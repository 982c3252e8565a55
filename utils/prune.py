"""Pruning: removing weights. Unstructured (single weights set to zero) and structured (whole hidden units removed).

``magnitude_prune_`` zeroes the smallest-magnitude weights of a model's ``Linear`` and convolution layers, with one
threshold across all of them (global magnitude pruning). The zeros are still stored and still multiplied: a dense
file and a dense matrix product are exactly as large and as slow as before (only compression, or sparse kernels at
very high sparsity, can exploit them). ``prune_mlp_units`` removes whole hidden units of a GPT's MLPs, the units whose
weights in and out have the smallest norm, and returns a smaller dense model: fewer bytes and fewer FLOPs.

Chapter 10 measures both against quality.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

PRUNABLE = (nn.Linear, nn.modules.conv._ConvNd)  # _ConvNd: every convolution, transposed or not


def _prunable_weights(model: nn.Module) -> list[torch.Tensor]:
    weights = [m.weight for m in model.modules() if isinstance(m, PRUNABLE)]
    if not weights:
        raise ValueError("the model has no Linear or convolution layers to prune")
    return weights


def sparsity(model: nn.Module) -> float:
    """Fraction of the ``Linear`` and convolution weights of ``model`` that are exactly zero."""
    weights = _prunable_weights(model)
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


def magnitude_prune_(model: nn.Module, fraction: float) -> float:
    """Set to zero, in place, the ``fraction`` of ``model``'s ``Linear`` and convolution weights with the smallest
    absolute values (one threshold for all layers; ties at the threshold are pruned too). Biases, norms and
    embeddings are kept. Returns the resulting sparsity (``sparsity(model)``)."""
    if not 0 <= fraction < 1:  # also refuses NaN
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    weights = _prunable_weights(model)
    if fraction > 0:
        magnitudes = torch.cat([w.detach().abs().flatten() for w in weights])
        n = magnitudes.numel()
        k = math.ceil(fraction * n)  # the fewest weights to zero for a sparsity (k / n) of at least fraction, but
        while k / n < fraction:  # fraction * n can round down past a whole number
            k += 1
        while (k - 1) / n >= fraction:  # or up past one (0.3 * 10 is 3.0000000000000004)
            k -= 1
        threshold = magnitudes.kthvalue(k).values
        with torch.no_grad():
            for w in weights:
                w.masked_fill_(w.abs() <= threshold, 0.0)
    return sparsity(model)


def prune_mlp_units(gpt: nn.Module, keep: float) -> nn.Module:
    """A copy of ``gpt`` (a ``utils.gpt.GPT``) whose every MLP keeps only the ``keep`` fraction of its hidden units
    with the largest ``|fc row| * |proj column|`` (the unit's weight in times its weight out): smaller ``fc`` and
    ``proj`` layers, the same interface. The input model is not changed. The copy keeps the original ``config``
    (whose MLP width is ``4 * n_embd``), so ``GPT(config)`` cannot load its ``state_dict``: use the copy itself."""
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    if not hasattr(gpt, "blocks") or not all(hasattr(b, "mlp") for b in gpt.blocks):
        raise TypeError("expected a utils.gpt.GPT: blocks with an .mlp of fc and proj layers")
    pruned = copy.deepcopy(gpt)
    for block in pruned.blocks:
        fc, proj = block.mlp.fc, block.mlp.proj
        units = max(1, round(keep * fc.out_features))
        importance = fc.weight.detach().norm(dim=1) * proj.weight.detach().norm(dim=0)  # [hidden]
        kept = importance.topk(units).indices.sort().values
        like = {"device": fc.weight.device, "dtype": fc.weight.dtype}  # a float64 or bfloat16 model stays so
        new_fc = nn.Linear(fc.in_features, units, bias=fc.bias is not None, **like)
        new_proj = nn.Linear(units, proj.out_features, bias=proj.bias is not None, **like)
        with torch.no_grad():
            new_fc.weight.copy_(fc.weight[kept])
            new_proj.weight.copy_(proj.weight[:, kept])
            if fc.bias is not None:
                new_fc.bias.copy_(fc.bias[kept])
            if proj.bias is not None:
                new_proj.bias.copy_(proj.bias)
        block.mlp.fc, block.mlp.proj = new_fc, new_proj
    return pruned
