"""The course's datasets as in-memory tensors, and mini-batching over them.

Every dataset is small enough to live in memory, which is far faster on a laptop CPU than a ``DataLoader`` with
worker processes: a chapter loads tensors once and slices mini-batches out of them with ``minibatches``.

Datasets (files under ``data/<dataset>/``, see data/README.md for sources and licences):

=================  ======================================  =========================
name               loader                                  shipped in the repository
=================  ======================================  =========================
mnist              ``load_mnist(split)``                   yes
fashion_mnist      ``load_fashion_mnist(split)``           no: fetched on first use
makemore_names     ``load_names()``                        yes
tinyshakespeare    ``load_tiny_shakespeare()``             yes
=================  ======================================  =========================
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from utils.download import RemoteFile, ensure_file


def _files(
    dataset: str, base_url: str, digests: dict[str, tuple[str, int]], shipped: bool = False
) -> dict[str, RemoteFile]:
    """Catalogue entries for files that sit side by side at ``base_url``: ``{name: (sha256, size)}``."""
    return {
        name: RemoteFile(dataset, name, sha256, size, base_url + name, shipped)
        for name, (sha256, size) in digests.items()
    }


# sha256 and sizes as published with the datasets (see data/README.md).
CATALOGUE: dict[str, dict[str, RemoteFile]] = {
    "mnist": _files(
        "mnist",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
            "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
            "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
            "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
        },
        shipped=True,
    ),
    "fashion_mnist": _files(
        "fashion_mnist",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": (
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                26421880,
            ),
            "train-labels-idx1-ubyte.gz": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
            "t10k-images-idx3-ubyte.gz": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
            "t10k-labels-idx1-ubyte.gz": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
        },
    ),
    "makemore_names": _files(
        "makemore_names",
        "https://raw.githubusercontent.com/karpathy/makemore/988aa59e4d8fefa526d06f3b453ad116258398d4/",
        {"names.txt": ("0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d", 228145)},
        shipped=True,
    ),
    "tinyshakespeare": _files(
        "tinyshakespeare",
        "https://raw.githubusercontent.com/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e"
        "/data/tinyshakespeare/",
        {"input.txt": ("86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", 1115394)},
        shipped=True,
    ),
}

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
# IDX type codes (third byte of the magic number) -> big-endian NumPy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def dataset_file(dataset: str, name: str) -> Path:
    """The verified local path of one file of a catalogued dataset, fetched first if it is not there yet."""
    if dataset not in CATALOGUE:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(sorted(CATALOGUE))}")
    files = CATALOGUE[dataset]
    if name not in files:
        raise ValueError(f"dataset {dataset!r} has no file {name!r}; its files: {', '.join(sorted(files))}")
    return ensure_file(files[name])


def parse_idx(raw: bytes) -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file into an array of its dtype and shape.

    IDX layout: two zero bytes, a type code, the number of dimensions ``d``, ``d`` big-endian int32 sizes, then the
    values in row-major order.
    """
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"not an IDX file: bad magic number {raw[:4].hex() or '(empty)'}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"IDX file truncated: {len(raw)} bytes, header alone needs {header}")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"IDX file of shape {shape} and dtype {dtype} should be {expected} bytes, got {len(raw)}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


@lru_cache(maxsize=8)
def _read_idx_gz(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return parse_idx(f.read())


def _load_idx_pair(dataset: str, split: str) -> tuple[Tensor, Tensor]:
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = _SPLIT_PREFIX[split]
    images = _read_idx_gz(dataset_file(dataset, f"{prefix}-images-idx3-ubyte.gz"))
    labels = _read_idx_gz(dataset_file(dataset, f"{prefix}-labels-idx1-ubyte.gz"))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{dataset} {split}: {images.shape[0]} images but {labels.shape[0]} labels")
    x = torch.from_numpy(images).unsqueeze(1).float().div_(255.0)
    y = torch.from_numpy(labels).long()
    return x, y


def load_mnist(split: str = "train") -> tuple[Tensor, Tensor]:
    """MNIST digits: images ``[N, 1, 28, 28]`` float32 in [0, 1] and labels ``[N]`` int64 in 0..9.

    ``split`` is ``'train'`` (N = 60000) or ``'test'`` (N = 10000). Each call returns new tensors.
    """
    return _load_idx_pair("mnist", split)


def load_fashion_mnist(split: str = "train") -> tuple[Tensor, Tensor]:
    """Fashion-MNIST: images ``[N, 1, 28, 28]`` float32 in [0, 1] and labels ``[N]`` int64 (``FASHION_MNIST_CLASSES``).

    Not shipped with the repository: fetched and verified on first use (about 30 MB).
    """
    return _load_idx_pair("fashion_mnist", split)


def load_names() -> list[str]:
    """The 32033 lowercase first names of makemore's ``names.txt`` (letters a-z only)."""
    return dataset_file("makemore_names", "names.txt").read_text(encoding="ascii").splitlines()


def load_tiny_shakespeare() -> str:
    """Tiny Shakespeare as one string of 1115394 ASCII characters (65 distinct)."""
    return dataset_file("tinyshakespeare", "input.txt").read_text(encoding="ascii")


def train_val_split(
    *tensors: Tensor, val_size: int, generator: torch.Generator | None = None
) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """Randomly hold out ``val_size`` rows of tensors that share their first dimension.

    Returns ``(train_tensors, val_tensors)``, each a tuple in the order given.
    """
    n = _common_length(tensors)
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be between 1 and {n - 1} for {n} rows, got {val_size}")
    order = torch.randperm(n, generator=generator)
    val_idx, train_idx = order[:val_size], order[val_size:]
    return tuple(t[train_idx] for t in tensors), tuple(t[val_idx] for t in tensors)


def minibatches(
    *tensors: Tensor,
    batch_size: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[Tensor, ...]]:
    """Yield aligned mini-batches ``(t0[idx], t1[idx], ...)`` of tensors that share their first dimension.

    With ``shuffle`` the rows are visited in a new random order each call (reproducible with ``generator``).
    The last batch is smaller unless ``drop_last``.
    """
    n = _common_length(tensors)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = torch.randperm(n, generator=generator) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield tuple(t[start : start + batch_size] for t in tensors)
        else:
            idx = order[start : start + batch_size].to(tensors[0].device)
            yield tuple(t[idx] for t in tensors)


def _common_length(tensors: tuple[Tensor, ...]) -> int:
    if not tensors:
        raise ValueError("expected at least one tensor")
    lengths = {t.shape[0] if t.dim() > 0 else None for t in tensors}
    if len(lengths) != 1 or None in lengths:
        raise ValueError(f"tensors must share their first dimension, got shapes {[tuple(t.shape) for t in tensors]}")
    return lengths.pop()
