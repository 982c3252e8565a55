"""The registry mechanism (utils.registry): entries, lookup, loading, and shipping freshly trained weights."""

from __future__ import annotations

import ast
import dataclasses

import pytest
import torch
from torch import nn

from utils import registry
from utils.checkpoint import load_checkpoint
from utils.download import ChecksumError, sha256_of
from utils.paths import REPO_ROOT


def entry_for(tmp_path, monkeypatch, *, target: float, higher_is_better: bool = True, float16: bool = False,
              measured: list | None = None) -> registry.Pretrained:
    """A registered test entry: a 3 -> 2 linear layer whose 'metric' is the sum of its stored weights."""
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)

    def measure(model: nn.Module) -> float:
        if measured is not None:
            measured.append({k: v.clone() for k, v in model.state_dict().items()})
        return sum(p.sum().item() for p in model.parameters())

    entry = registry.Pretrained(
        name="test-linear", description="a linear layer", build=lambda: nn.Linear(3, 2), filename="linear.pt",
        sha256="", size=0, trained_by="python scripts/train_linear.py", metric="sum of weights", target=target,
        higher_is_better=higher_is_better, measure=measure, float16=float16,
    )  # fmt: skip
    monkeypatch.setitem(registry._REGISTRY, entry.name, entry)
    return entry


def trained_linear(value: float = 0.1) -> nn.Linear:
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.fill_(value)
        layer.bias.fill_(value)
    return layer  # the sum of its 8 numbers is 8 * value


def test_info_names_and_unknown_names(tmp_path, monkeypatch):
    entry = entry_for(tmp_path, monkeypatch, target=0.0)
    assert registry.info("test-linear") is entry and "test-linear" in registry.names()
    assert registry.names() == sorted(registry.names())
    with pytest.raises(ValueError, match="no pretrained model 'inception'; available: .*test-linear"):
        registry.info("inception")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(entry)


def test_meets_target_respects_the_direction(tmp_path, monkeypatch):
    higher = entry_for(tmp_path, monkeypatch, target=0.5)
    assert higher.meets_target(0.5) and higher.meets_target(0.6) and not higher.meets_target(0.4)
    lower = dataclasses.replace(higher, higher_is_better=False)
    assert lower.meets_target(0.4) and lower.meets_target(0.5) and not lower.meets_target(0.6)


def test_ship_writes_weights_that_meet_the_target_and_load_returns_them(tmp_path, monkeypatch):
    entry = entry_for(tmp_path, monkeypatch, target=0.5)  # 8 * 0.1 = 0.8 >= 0.5
    shipped = registry.ship(entry, trained_linear(0.1))
    assert shipped.path == tmp_path / "linear.pt" and shipped.value == pytest.approx(0.8)
    assert shipped.size == shipped.path.stat().st_size and shipped.sha256 == sha256_of(shipped.path)
    assert shipped.entry_fields() == f'sha256="{shipped.sha256}", size={shipped.size},'
    monkeypatch.setitem(registry._REGISTRY, entry.name,
                        dataclasses.replace(entry, sha256=shipped.sha256, size=shipped.size))
    loaded = registry.load("test-linear")
    assert not loaded.training and torch.equal(loaded.weight, torch.full((2, 3), 0.1))


def test_ship_refuses_weights_below_the_target_and_writes_nothing(tmp_path, monkeypatch):
    entry = entry_for(tmp_path, monkeypatch, target=1.0)  # 0.8 < 1.0
    with pytest.raises(registry.BelowTargetError, match=r"sum of weights is 0\.8000, its target is at least 1\.0"):
        registry.ship(entry, trained_linear(0.1))
    assert list(tmp_path.iterdir()) == []
    lower = entry_for(tmp_path, monkeypatch, target=0.5, higher_is_better=False)
    with pytest.raises(registry.BelowTargetError, match="at most 0.5"):
        registry.ship(lower, trained_linear(0.1))


def test_ship_measures_and_stores_float16_weights_exactly_as_they_ship(tmp_path, monkeypatch):
    measured = []
    entry = entry_for(tmp_path, monkeypatch, target=0.0, float16=True, measured=measured)
    shipped = registry.ship(entry, trained_linear(0.1), out=tmp_path / "elsewhere.pt")
    stored = load_checkpoint(shipped.path)
    assert shipped.path.name == "elsewhere.pt" and all(v.dtype == torch.float16 for v in stored.values())
    half = torch.tensor(0.1).half().float()  # 0.0999755859375: what a float16 file holds
    assert torch.equal(measured[0]["weight"], torch.full((2, 3), half.item()))
    assert shipped.value == pytest.approx(8 * half.item(), abs=1e-6) and shipped.value != pytest.approx(0.8, abs=1e-6)


def test_ship_or_exit_prints_the_fields_for_the_entry_or_exits_with_the_reason(tmp_path, monkeypatch, capsys):
    entry = entry_for(tmp_path, monkeypatch, target=0.5)
    shipped = registry.ship_or_exit(entry, trained_linear(0.1))
    printed = capsys.readouterr().out
    assert "sum of weights: 0.8000 (target 0.5)" in printed and shipped.entry_fields() in printed
    too_high = entry_for(tmp_path, monkeypatch, target=5.0)
    with pytest.raises(SystemExit, match="not shipped: test-linear: sum of weights is 0.8000"):
        registry.ship_or_exit(too_high, trained_linear(0.1), out=tmp_path / "never.pt")
    assert not (tmp_path / "never.pt").exists()


def test_load_refuses_missing_and_corrupted_weights(tmp_path, monkeypatch):
    entry = entry_for(tmp_path, monkeypatch, target=0.0)
    with pytest.raises(FileNotFoundError, match=r"weights of 'test-linear' are missing.*scripts/train_linear.py"):
        registry.load("test-linear")
    shipped = registry.ship(entry, trained_linear(0.1))
    monkeypatch.setitem(registry._REGISTRY, entry.name, dataclasses.replace(entry, sha256=shipped.sha256,
                                                                            size=shipped.size))
    data = bytearray(shipped.path.read_bytes())
    data[-20] ^= 0xFF
    shipped.path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="corrupted.*retrain it with `python scripts/train_linear.py`"):
        registry.load("test-linear")


def test_the_registry_module_imports_no_model_and_utils_has_no_import_cycle():
    imported = {
        node.module
        for node in ast.walk(ast.parse((REPO_ROOT / "utils" / "registry.py").read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"__future__", "collections.abc", "dataclasses", "pathlib", "typing", "torch",
                        "utils.checkpoint", "utils.download"}, imported
    graph = {}  # module -> the utils modules it imports (anywhere in the file)
    for path in (REPO_ROOT / "utils").glob("*.py"):
        tree = ast.parse(path.read_text())
        graph[path.stem] = {
            alias.name if node.module == "utils" else node.module.removeprefix("utils.")
            for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
            and (node.module == "utils" or node.module.startswith("utils."))
            for alias in node.names
        }  # fmt: skip

    def cycle_from(module: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        for dependency in graph.get(module, ()):
            if dependency in path:
                return (*path, dependency)
            found = cycle_from(dependency, (*path, dependency))
            if found:
                return found
        return None

    cycles = [c for m in graph if (c := cycle_from(m, (m,)))]
    assert not cycles, f"import cycle in utils: {' -> '.join(cycles[0])}"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_loading_onto_a_missing_gpu_is_a_device_error_not_corrupt_weights(tmp_path, monkeypatch):
    entry = entry_for(tmp_path, monkeypatch, target=0.0)
    shipped = registry.ship(entry, trained_linear(0.1))
    monkeypatch.setitem(registry._REGISTRY, entry.name, dataclasses.replace(entry, sha256=shipped.sha256,
                                                                            size=shipped.size))
    with pytest.raises(RuntimeError, match="asks for cuda, but this PyTorch sees no CUDA GPU.*choose 'cpu'"):
        registry.load("test-linear", device="cuda")
    with pytest.raises(ValueError, match="map_location must be a device such as 'cpu'"):
        registry.load("test-linear", device="gpu")


def test_a_borrowed_submodule_is_neither_stored_nor_required_and_other_keys_still_must_fit(tmp_path, monkeypatch):
    """An entry whose ``build`` fills a submodule from another shipped model (a latent flow's VAE) stores and loads
    only its own weights; a file that lacks one of its own keys, or holds a key the model lacks, is refused."""
    frozen = nn.Linear(3, 3)  # stands for the shipped VAE: build() puts these weights in every time
    with torch.no_grad():
        frozen.weight.fill_(0.5)

    def build() -> nn.Module:
        model = nn.Module()
        model.own, model.part = nn.Linear(3, 2), nn.Linear(3, 3)
        model.part.load_state_dict(frozen.state_dict())
        return model

    entry = dataclasses.replace(entry_for(tmp_path, monkeypatch, target=0.0), build=build, borrowed=("part",))
    monkeypatch.setitem(registry._REGISTRY, entry.name, entry)
    trained = build()
    with torch.no_grad():
        trained.own.weight.fill_(0.25)
        trained.part.weight.fill_(9.0)  # changes to a borrowed part are not what ships
    shipped = registry.ship(entry, trained)
    assert sorted(load_checkpoint(shipped.path)) == ["own.bias", "own.weight"]
    monkeypatch.setitem(registry._REGISTRY, entry.name,
                        dataclasses.replace(entry, sha256=shipped.sha256, size=shipped.size))
    loaded = registry.load(entry.name)
    assert torch.equal(loaded.own.weight, torch.full((2, 3), 0.25)) and torch.equal(loaded.part.weight, frozen.weight)
    with pytest.raises(ValueError, match=r"do not fit 'test-linear': missing \['own.bias'\]"):
        registry.load_stored_state(entry, build(), {"own.weight": torch.zeros(2, 3)})
    with pytest.raises(ValueError, match=r"unexpected \['extra'\]"):
        registry.load_stored_state(entry, build(), {**build().own.state_dict(prefix="own."), "extra": torch.zeros(1)})
