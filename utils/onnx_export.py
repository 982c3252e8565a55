"""Exporting the course's models to ONNX, running them with ONNX Runtime, and quantising them to int8.

ONNX is a file format for a model's computation graph and weights; ONNX Runtime runs such a file without PyTorch
(on phones, in browsers, on single-board computers and servers). ``export_onnx`` writes a model with
``torch.onnx.export`` (the ``torch.export``-based exporter; it needs ``onnxscript``), with the batch dimension, and
optionally others, left free. ``onnx_session`` opens a file for a given number of threads, ``run_onnx`` runs it on
NumPy arrays, ``max_abs_difference`` checks a file against the PyTorch model it came from, and ``quantize_int8``
applies ONNX Runtime's dynamic int8 quantisation (weights stored as int8 per channel, activations quantised on the
fly). ``GPTLogits`` wraps the GPT for export (ids ``[B, T]``, T up to the context, to logits ``[B, T, V]``) and
``UnitRangeImages`` an image generator (noise to images in [0, 1]).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from utils.gan import to_unit_range
from utils.modes import eval_mode
from utils.paths import atomic_path


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep the exporter's and the quantiser's progress messages and warnings out of the notebook."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "root", "onnxscript")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


class GPTLogits(nn.Module):
    """A GPT as an exportable function: ids ``[B, T]`` (int64, ``1 <= T <= block_size``) -> logits ``[B, T,
    vocab_size]``, the last position's predicting the next token. The ids are not checked here (an exported graph
    cannot raise Python errors): callers keep them in range and crop the context to ``block_size``."""

    def __init__(self, gpt: nn.Module):
        super().__init__()
        self.gpt = gpt

    def forward(self, idx: Tensor) -> Tensor:
        return self.gpt._logits(idx, None)


class UnitRangeImages(nn.Module):
    """An image generator as an exportable function: noise ``[B, latent_dim]`` -> images ``[B, 1, 28, 28]`` in
    [0, 1] (the course's generators compute [-1, 1]; ``render`` maps to [0, 1] the same way)."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, z: Tensor) -> Tensor:
        return to_unit_range(self.generator(z))


def _strip_debug_information(path: str | Path) -> None:
    """Remove what only debugging needs from an ONNX file: the exporter's per-node metadata (the PyTorch source
    line and module of every operator) and intermediate shape annotations: about a tenth of the shipped GPT's float32
    weights, more than its int8 weights' savings can afford to waste."""
    import onnx

    model = onnx.load(str(path))
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.graph.value_info[:]
    onnx.save(model, str(path))


def export_onnx(
    model: nn.Module,
    example_inputs: tuple[Tensor, ...],
    path: str | Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    free_dims: dict[str, dict[int, tuple[str, int, int]]] | None = None,
) -> Path:
    """Export ``model`` (on the CPU, in eval mode) to the ONNX file ``path``, written atomically, without the
    exporter's debugging metadata.

    Every input's dimension 0 is a free batch size; ``free_dims`` frees more: ``{input: {dim: (name, min, max)}}``.
    Returns the path. Raises ``ValueError`` if the names do not match the inputs.
    """
    if not isinstance(example_inputs, tuple) or not all(isinstance(x, Tensor) for x in example_inputs):
        raise TypeError("example_inputs must be a tuple of tensors")
    if len(input_names) != len(example_inputs):
        raise ValueError(f"{len(example_inputs)} inputs but {len(input_names)} input names")
    free_dims = free_dims or {}
    unknown = set(free_dims) - set(input_names)
    if unknown:
        raise ValueError(f"free_dims names inputs that do not exist: {sorted(unknown)}")
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    shapes = []
    for name in input_names:
        dims = {0: batch}
        for dim, (dim_name, low, high) in free_dims.get(name, {}).items():
            dims[dim] = torch.export.Dim(dim_name, min=low, max=high)
        shapes.append(dims)
    path = Path(path)
    exported = copy.deepcopy(model).cpu()  # the caller's model stays where it is
    with atomic_path(path) as temporary, _quiet(), eval_mode(exported), torch.no_grad():
        torch.onnx.export(exported, tuple(x.cpu() for x in example_inputs), temporary,
                          input_names=list(input_names), output_names=list(output_names),
                          dynamic_shapes=tuple(shapes), dynamo=True, external_data=False)
        _strip_debug_information(temporary)
    return path


def onnx_session(path: str | Path, threads: int = 1):
    """An ONNX Runtime session for the file ``path`` on the CPU with ``threads`` threads (1: a small device)."""
    import onnxruntime as ort

    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if not Path(path).is_file():
        raise FileNotFoundError(f"no ONNX file at {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(session, *inputs: np.ndarray | Tensor) -> list[np.ndarray]:
    """Run ``session`` on ``inputs`` (NumPy arrays or CPU tensors, in the order of the file's inputs)."""
    names = [i.name for i in session.get_inputs()]
    if len(inputs) != len(names):
        raise ValueError(f"the model takes {len(names)} inputs ({names}), got {len(inputs)}")
    arrays = [x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x) for x in inputs]
    return session.run(None, dict(zip(names, arrays)))


def max_abs_difference(model: nn.Module, session, inputs: tuple[Tensor, ...]) -> float:
    """Largest absolute difference between ``model(*inputs)`` (PyTorch, CPU, eval mode) and the ONNX file's first
    output on the same inputs."""
    with eval_mode(model), torch.no_grad():
        expected = model.cpu()(*(x.cpu() for x in inputs))
    got = run_onnx(session, *inputs)[0]
    if got.shape != tuple(expected.shape):
        raise ValueError(f"the ONNX output has shape {got.shape}, PyTorch's {tuple(expected.shape)}")
    return float(np.abs(got.astype(np.float64) - expected.double().numpy()).max())


def quantize_int8(source: str | Path, target: str | Path) -> Path:
    """ONNX Runtime's dynamic int8 quantisation of the file ``source`` into ``target`` (written atomically): the
    weights of matrix products (``MatMul``, ``Gemm``) and embedding lookups stored as int8 with one scale per output
    channel, activations quantised per batch as they come. Other operators, transposed convolutions among them,
    keep float32 weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if not Path(source).is_file():
        raise FileNotFoundError(f"no ONNX file at {source}")
    target = Path(target)
    with atomic_path(target) as temporary, _quiet():
        quantize_dynamic(str(source), temporary, weight_type=QuantType.QInt8, per_channel=True)
    return target
