import io
import math
import os
import zipfile

import pytest
import torch
from torch import nn

from utils.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_restores_identical_weights(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    path = save_checkpoint(model, tmp_path / "sub" / "model.pt")
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    state = load_checkpoint(path, fresh)
    for (k, v), (k2, v2) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert set(state) == set(model.state_dict())
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp files left


def test_saved_file_is_a_plain_state_dict_loadable_weights_only(tmp_path):
    path = save_checkpoint({"w": torch.ones(2)}, tmp_path / "w.pt")
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(2))


def test_saving_something_other_than_weights_is_refused(tmp_path):
    with pytest.raises(TypeError, match="nn.Module or a state dict"):
        save_checkpoint([torch.ones(1)], tmp_path / "x.pt")
    with pytest.raises(TypeError, match="nn.Module or a state dict"):
        save_checkpoint({"lr": 0.1}, tmp_path / "x.pt")


def test_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*train the model first"):
        load_checkpoint(tmp_path / "absent.pt")


def test_weights_that_do_not_fit_the_model_are_a_clear_error(tmp_path):
    path = save_checkpoint(nn.Linear(3, 4), tmp_path / "small.pt")
    with pytest.raises(ValueError, match="does not fit Linear"):
        load_checkpoint(path, nn.Linear(3, 5))


def test_corrupted_or_unsafe_files_are_refused(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a loadable weights-only checkpoint"):
        load_checkpoint(corrupt)
    pickled_model = tmp_path / "model.pt"
    torch.save(nn.Linear(2, 2), pickled_model)  # a whole pickled module: weights_only refuses it
    with pytest.raises(ValueError, match="not a loadable weights-only checkpoint"):
        load_checkpoint(pickled_model)
    not_a_dict = tmp_path / "list.pt"
    torch.save([torch.ones(1)], not_a_dict)
    with pytest.raises(ValueError, match="does not hold a state dict"):
        load_checkpoint(not_a_dict)


def saved_as_if_on_cuda(state: dict, path):
    """Write ``state`` as ``torch.save`` does on a CUDA machine: its storages say they live on ``cuda:0``."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    original, rewritten = zipfile.ZipFile(io.BytesIO(buffer.getvalue())), io.BytesIO()
    with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_STORED) as archive:
        for info in original.infolist():
            data = original.read(info)
            if info.filename.endswith("/data.pkl"):
                assert b"X\x03\x00\x00\x00cpu" in data  # the pickled location string of each storage
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            archive.writestr(info, data)
    path.write_bytes(rewritten.getvalue())
    return path


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks loading GPU weights on a machine without a GPU")
def test_weights_saved_on_a_gpu_load_on_a_cpu_only_machine(tmp_path):
    torch.manual_seed(0)
    trained = nn.Linear(3, 2)
    path = saved_as_if_on_cuda(trained.state_dict(), tmp_path / "gpu.pt")
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(path, weights_only=True)  # what a plain torch.load does here
    fresh = nn.Linear(3, 2)
    load_checkpoint(path, fresh)  # map_location defaults to the CPU
    assert torch.equal(fresh.weight, trained.weight) and fresh.weight.device.type == "cpu"


def test_map_location_puts_the_weights_on_the_requested_device(tmp_path):
    path = save_checkpoint(nn.Linear(3, 2), tmp_path / "w.pt")
    state = load_checkpoint(path, map_location="meta")
    assert {t.device.type for t in state.values()} == {"meta"}
    assert {t.device.type for t in load_checkpoint(path, map_location=torch.device("cpu")).values()} == {"cpu"}


def flip_bit(path, values: torch.Tensor, element: int, bit: int) -> None:
    """Flip one bit of element ``element`` of the float32 tensor ``values`` inside the saved file at ``path``."""
    data = bytearray(path.read_bytes())
    start = bytes(data).find(values.numpy().tobytes())
    assert start >= 0 and bytes(data).find(values.numpy().tobytes(), start + 1) < 0  # the tensor's bytes, once
    data[start + 4 * element + bit // 8] ^= 1 << (bit % 8)  # little-endian float32
    path.write_bytes(bytes(data))


def test_a_bit_flipped_checkpoint_is_refused_naming_the_file(tmp_path):
    values = torch.arange(1, 65, dtype=torch.float32)  # distinct bytes, easy to find in the file
    for bit, becomes in ((30, "inf"), (0, "a finite number one ulp away")):
        path = save_checkpoint({"w": values.clone()}, tmp_path / f"flip{bit}.pt")
        flip_bit(path, values, element=0, bit=bit)  # 1.0 -> inf (exponent bit), or 1.0000001 (mantissa bit)
        flipped = torch.load(path, weights_only=True)["w"]  # what torch.load gives: no error at all
        assert torch.isinf(flipped[0]) if becomes == "inf" else flipped[0].item() != 1.0
        with pytest.raises(ValueError, match=rf"{path.name} is corrupted: its tensors differ from the sha256"):
            load_checkpoint(path)


def test_the_checksum_travels_inside_a_plain_state_dict(tmp_path):
    model = nn.Linear(3, 2)
    path = save_checkpoint(model, tmp_path / "w.pt")
    raw = torch.load(path, weights_only=True)
    assert list(raw) == ["weight", "bias"] and len(getattr(raw, "checkpoint_sha256")) == 64
    nn.Linear(3, 2).load_state_dict(raw)  # still loads into a model with plain torch
    state = load_checkpoint(path)
    assert not hasattr(state, "checkpoint_sha256")  # re-saving the returned dict with torch.save stays loadable
    torch.save(state, tmp_path / "copy.pt")
    assert torch.equal(load_checkpoint(tmp_path / "copy.pt")["weight"], model.weight)


def test_checkpoints_without_a_checksum_load_but_never_with_nan_or_inf(tmp_path):
    old = tmp_path / "old.pt"
    torch.save({"w": torch.ones(3), "steps": torch.tensor(7)}, old)  # written by torch.save: no checksum
    assert torch.equal(load_checkpoint(old)["w"], torch.ones(3))
    values = torch.arange(1, 65, dtype=torch.float32)
    torch.save({"w": values.clone()}, old)
    flip_bit(old, values, element=0, bit=30)  # 1.0 -> inf
    with pytest.raises(ValueError, match=r"old.pt is corrupted or was saved from a diverged run: 'w' holds NaN"):
        load_checkpoint(old)


def test_saving_nan_weights_is_refused_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"'b' holds NaN or infinite values \(the training diverged\)"):
        save_checkpoint({"a": torch.ones(2), "b": torch.tensor([1.0, math.nan])}, tmp_path / "nan.pt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_gpu_is_a_device_error_not_a_corrupt_file(tmp_path):
    path = save_checkpoint(nn.Linear(3, 2), tmp_path / "w.pt")
    with pytest.raises(RuntimeError, match=r"map_location=\.\.\.\) asks for cuda, but this PyTorch sees no CUDA GPU"):
        load_checkpoint(path, map_location="cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        load_checkpoint(path, map_location=torch.device("cuda:0"))


@pytest.mark.parametrize("location", ["gpu", "cuda:x", 3.5])
def test_an_unknown_device_is_a_device_error_not_a_corrupt_file(tmp_path, location):
    path = save_checkpoint(nn.Linear(3, 2), tmp_path / "w.pt")
    with pytest.raises(ValueError, match=r"map_location must be a device such as 'cpu', 'cuda'"):
        load_checkpoint(path, map_location=location)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_checkpoints_get_the_mode_the_umask_allows(tmp_path):
    original = os.umask(0o022)
    try:
        assert save_checkpoint(nn.Linear(3, 2), tmp_path / "w.pt").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(original)
