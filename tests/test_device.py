import pytest
import torch

from utils import device as device_mod
from utils.device import describe_device, for_device, get_device, parse_device


@pytest.fixture
def no_accelerators(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_mod, "_mps_available", lambda: False)


def test_falls_back_to_cpu_without_accelerators(no_accelerators):
    assert get_device() == torch.device("cpu")


def test_prefers_cuda_then_mps(no_accelerators, monkeypatch):
    monkeypatch.setattr(device_mod, "_mps_available", lambda: True)
    assert get_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")


def test_environment_variable_overrides_automatic_choice(no_accelerators, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("COURSE_DEVICE", " CPU ")
    assert get_device() == torch.device("cpu")


def test_argument_overrides_environment(no_accelerators, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    assert get_device("cpu") == torch.device("cpu")


def test_unknown_device_name_is_a_clear_error(no_accelerators, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    with pytest.raises(ValueError, match=r"COURSE_DEVICE.*'tpu'.*cpu, cuda, mps"):
        get_device()
    with pytest.raises(ValueError, match="unsupported device 'meta'"):
        parse_device("meta")


def test_unavailable_device_says_what_to_do(no_accelerators):
    with pytest.raises(RuntimeError, match="no CUDA GPU.*Install a CUDA build"):
        get_device("cuda")
    with pytest.raises(RuntimeError, match="Metal backend is not available"):
        get_device("mps")


def test_cuda_index_beyond_device_count_is_rejected(no_accelerators, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert parse_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(RuntimeError, match="only 1 CUDA device"):
        parse_device("cuda:3")


def test_describe_cpu_mentions_threads():
    assert describe_device(torch.device("cpu")) == f"cpu ({torch.get_num_threads()} threads)"


def test_cuda_gets_the_larger_setting_and_everything_else_the_laptop_one():
    assert for_device(torch.device("cuda"), cpu="small", cuda="large") == "large"
    assert for_device("cuda:1", cpu="small", cuda="large") == "large"
    for name in ("cpu", "mps"):
        assert for_device(name, cpu="small", cuda="large") == "small"


def test_on_a_machine_with_cuda_the_automatic_device_selects_the_gpu_setting(no_accelerators, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert for_device(get_device(), cpu="small", cuda="large") == "large"
    monkeypatch.setenv("COURSE_DEVICE", "cpu")  # forcing the CPU on a GPU machine also picks the laptop setting
    assert for_device(get_device(), cpu="small", cuda="large") == "small"


def test_on_apple_silicon_mps_is_picked_with_the_laptop_setting(no_accelerators, monkeypatch):
    monkeypatch.setattr(device_mod, "_mps_available", lambda: True)
    assert get_device() == torch.device("mps")
    assert for_device(get_device(), cpu="small", cuda="large") == "small"
    assert describe_device(torch.device("mps")) == "mps"


def test_describe_cuda_names_the_card(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA Test Card")
    assert describe_device(torch.device("cuda")) == "cuda (NVIDIA Test Card)"
