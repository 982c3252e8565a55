import os
import struct

import numpy as np
import pytest
import torch

from utils import data
from utils.data import (
    CATALOGUE,
    dataset_file,
    load_fashion_mnist,
    load_mnist,
    load_names,
    load_tiny_shakespeare,
    minibatches,
    parse_idx,
    train_val_split,
)
from utils.download import sha256_of
from utils.paths import REPO_ROOT

SHIPPED = ["mnist", "makemore_names", "tinyshakespeare"]
MIRROR = os.environ.get("COURSE_DATA_MIRROR")  # read before fixtures clear it


def idx_bytes(type_code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}i", *shape) + payload


def test_parse_idx_decodes_uint8_and_big_endian_int32():
    arr = parse_idx(idx_bytes(0x08, (2, 3), bytes(range(6))))
    assert arr.dtype == np.uint8 and arr.tolist() == [[0, 1, 2], [3, 4, 5]]
    arr = parse_idx(idx_bytes(0x0C, (2,), struct.pack(">2i", 1, -2)))
    assert arr.tolist() == [1, -2] and arr.dtype == np.int32


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x01\x00\x08\x01", "bad magic"),
        (b"\x00\x00\x42\x01", "bad magic"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated"),
        (idx_bytes(0x08, (2, 3), bytes(5)), "should be 18 bytes, got 17"),
    ],
)
def test_parse_idx_rejects_malformed_files(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_idx(raw)


@pytest.mark.parametrize("dataset", SHIPPED)
def test_shipped_files_match_the_catalogue(dataset):
    for file in CATALOGUE[dataset].values():
        path = REPO_ROOT / "data" / dataset / file.name
        assert path.stat().st_size == file.size
        assert sha256_of(path) == file.sha256


def test_the_catalogue_marks_exactly_the_shipped_datasets():
    shipped = {name for name, files in CATALOGUE.items() if all(f.shipped for f in files.values())}
    assert shipped == set(SHIPPED)
    assert not any(f.shipped for name in set(CATALOGUE) - shipped for f in CATALOGUE[name].values())


def test_data_readme_lists_every_catalogued_checksum():
    readme = (REPO_ROOT / "data" / "README.md").read_text()
    for files in CATALOGUE.values():
        for file in files.values():
            assert file.sha256 in readme, f"data/README.md does not list {file.dataset}/{file.name}"


def test_mnist_train_and_test_match_published_counts():
    x, y = load_mnist("train")
    assert x.shape == (60000, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert y.dtype == torch.int64
    assert y.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert y[:5].tolist() == [5, 0, 4, 1, 9]
    x_test, y_test = load_mnist("test")
    assert x_test.shape == (10000, 1, 28, 28)
    assert y_test.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_calls_return_independent_tensors():
    x1, _ = load_mnist("test")
    x1.zero_()
    x2, _ = load_mnist("test")
    assert x2.sum() > 0


def test_unknown_split_dataset_or_file_is_a_clear_error():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'; known: fashion_mnist, makemore_names"):
        dataset_file("cifar10", "x")
    with pytest.raises(ValueError, match="has no file 'x.txt'"):
        dataset_file("mnist", "x.txt")


def test_mismatched_image_and_label_counts_are_rejected(monkeypatch):
    real = data._read_idx_gz

    def short_labels(path):
        arr = real(path)
        return arr[:-1] if "labels" in path.name else arr

    monkeypatch.setattr(data, "_read_idx_gz", short_labels)
    with pytest.raises(ValueError, match="10000 images but 9999 labels"):
        load_mnist("test")


@pytest.mark.skipif(not MIRROR, reason="needs COURSE_DATA_MIRROR (set by .ci/run), and tests never use the internet")
def test_fashion_mnist_is_fetched_from_the_mirror_and_verified(empty_data_dir, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_MIRROR", MIRROR)
    x, y = load_fashion_mnist("test")
    assert x.shape == (10000, 1, 28, 28)
    assert y.bincount().tolist() == [1000] * 10
    assert sorted(p.name for p in (empty_data_dir / "fashion_mnist").iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]


def test_names_and_shakespeare():
    names = load_names()
    assert len(names) == 32033 and names[:3] == ["emma", "olivia", "ava"] and names[-1] == "zzyzx"
    assert set("".join(names)) == set("abcdefghijklmnopqrstuvwxyz")
    text = load_tiny_shakespeare()
    assert len(text) == 1115394 and text.startswith("First Citizen:") and len(set(text)) == 65


def test_train_val_split_partitions_rows_reproducibly():
    x = torch.arange(10)
    y = torch.arange(10) * 10
    (x_tr, y_tr), (x_val, y_val) = train_val_split(x, y, val_size=3, generator=torch.Generator().manual_seed(0))
    assert len(x_tr) == 7 and len(x_val) == 3
    assert torch.equal(y_tr, x_tr * 10) and torch.equal(y_val, x_val * 10)  # rows stay aligned
    assert sorted(torch.cat([x_tr, x_val]).tolist()) == list(range(10))
    (again, _), _ = train_val_split(x, y, val_size=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, x_tr)
    with pytest.raises(ValueError, match="val_size must be between 1 and 9"):
        train_val_split(x, val_size=10)


def test_minibatches_in_order_and_shuffled():
    x, y = torch.arange(10), torch.arange(10) + 100
    batches = list(minibatches(x, y, batch_size=4))
    assert [b[0].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(b[0]) for b in minibatches(x, batch_size=4, drop_last=True)] == [4, 4]
    shuffled = list(minibatches(x, y, batch_size=3, shuffle=True, generator=torch.Generator().manual_seed(1)))
    seen = torch.cat([b[0] for b in shuffled])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    assert all(torch.equal(bx + 100, by) for bx, by in shuffled)


def test_minibatches_reject_bad_arguments():
    with pytest.raises(ValueError, match="share their first dimension"):
        list(minibatches(torch.zeros(3), torch.zeros(4), batch_size=2))
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        list(minibatches(torch.zeros(3), batch_size=0))
    with pytest.raises(ValueError, match="at least one tensor"):
        list(minibatches(batch_size=2))
