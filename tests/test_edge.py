"""ONNX export, int8 quantisation and the torch-free generator script (chapter 10), on tiny untrained models."""

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from utils.gan import GANConfig, Generator
from utils.gpt import GPT, GPTConfig
from utils.onnx_export import (GPTLogits, UnitRangeImages, export_onnx, max_abs_difference, onnx_session,
                               quantize_int8, run_onnx)
from utils.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "edge_generate.py"
VOCABULARY = "\n !':abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"  # 56 characters


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    """A tiny GPT and a tiny DCGAN generator, exported to float32 and int8 ONNX files, with the GPT's card."""
    folder = tmp_path_factory.mktemp("edge")
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=len(VOCABULARY), block_size=16, n_layer=2, n_head=2, n_embd=32))
    generator = Generator(GANConfig(latent_dim=8, width=16))
    paths = {
        "gpt": export_onnx(GPTLogits(gpt), (torch.zeros(2, 16, dtype=torch.long),), folder / "gpt.onnx", ["ids"],
                           ["logits"], free_dims={"ids": {1: ("context", 1, 16)}}),
        "generator": export_onnx(UnitRangeImages(generator), (torch.zeros(2, 8),), folder / "generator.onnx",
                                 ["noise"], ["images"]),
    }
    paths["gpt_int8"] = quantize_int8(paths["gpt"], folder / "gpt_int8.onnx")
    paths["generator_int8"] = quantize_int8(paths["generator"], folder / "generator_int8.onnx")
    paths["card"] = folder / "card.json"
    paths["card"].write_text(json.dumps({"vocabulary": VOCABULARY, "block_size": 16}))
    paths["models"] = {"gpt": gpt, "generator": generator}
    return paths


def test_exported_gpt_matches_pytorch_for_any_batch_and_context_length(exported):
    session = onnx_session(exported["gpt"])
    window = GPTLogits(exported["models"]["gpt"])
    for batch, length in ((1, 1), (3, 7), (2, 16)):
        ids = torch.randint(0, len(VOCABULARY), (batch, length), generator=torch.Generator().manual_seed(length))
        assert max_abs_difference(window, session, (ids,)) <= 1e-4
        assert run_onnx(session, ids)[0].shape == (batch, length, len(VOCABULARY))


def test_gpt_logits_are_the_models_logits(exported):
    gpt = exported["models"]["gpt"].eval()
    ids = torch.randint(0, len(VOCABULARY), (2, 5), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(GPTLogits(gpt)(ids), gpt(ids))


def test_exported_generator_gives_images_in_the_unit_range_like_render(exported):
    generator = exported["models"]["generator"]
    session = onnx_session(exported["generator"], threads=2)
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    images = run_onnx(session, z)[0]
    assert images.shape == (5, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert np.abs(images - generator.render(z).numpy()).max() <= 1e-4
    assert max_abs_difference(UnitRangeImages(generator), session, (z,)) <= 1e-4


def test_exported_files_get_the_usual_file_mode_and_failures_leave_nothing_behind(tmp_path, exported):
    from utils.paths import file_mode

    assert exported["gpt"].stat().st_mode & 0o777 == file_mode()
    assert exported["gpt_int8"].stat().st_mode & 0o777 == file_mode()
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not an onnx file")
    with pytest.raises(Exception):
        quantize_int8(corrupt, tmp_path / "out" / "corrupt_int8.onnx")
    assert list((tmp_path / "out").iterdir()) == []  # the target folder was made, no temporary file left in it


def test_export_leaves_the_callers_model_on_its_device(tmp_path):
    model = torch.nn.Linear(3, 2).double()
    export_onnx(torch.nn.Sequential(model), (torch.zeros(1, 3, dtype=torch.float64),), tmp_path / "m.onnx", ["x"], ["y"])
    assert model.weight.dtype == torch.float64 and model.training


def test_int8_files_are_smaller_and_stay_close(exported):
    for name in ("gpt", "generator"):
        assert exported[f"{name}_int8"].stat().st_size < 0.7 * exported[name].stat().st_size  # tiny: scales and biases weigh
    ids = torch.randint(0, len(VOCABULARY), (4, 16), generator=torch.Generator().manual_seed(2))
    full, int8 = (run_onnx(onnx_session(exported[k]), ids)[0] for k in ("gpt", "gpt_int8"))
    assert not np.array_equal(full, int8)  # really quantised
    assert np.abs(full - int8).max() < 0.1 * np.abs(full).max() + 0.05
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(3))
    images, images_int8 = (run_onnx(onnx_session(exported[k]), z)[0] for k in ("generator", "generator_int8"))
    assert images_int8.min() >= 0 and images_int8.max() <= 1
    assert 0 < np.abs(images - images_int8).mean() < 0.05


def test_export_rejects_mismatched_names_and_non_tensor_inputs(tmp_path):
    model = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match="2 input names"):
        export_onnx(model, (torch.zeros(1, 3),), tmp_path / "m.onnx", ["a", "b"], ["y"])
    with pytest.raises(TypeError, match="tuple of tensors"):
        export_onnx(model, torch.zeros(1, 3), tmp_path / "m.onnx", ["a"], ["y"])
    with pytest.raises(ValueError, match="do not exist"):
        export_onnx(model, (torch.zeros(1, 3),), tmp_path / "m.onnx", ["x"], ["y"], free_dims={"z": {1: ("n", 1, 4)}})
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_sessions_and_quantiser_reject_missing_files_and_bad_threads(tmp_path, exported):
    with pytest.raises(FileNotFoundError):
        onnx_session(tmp_path / "missing.onnx")
    with pytest.raises(FileNotFoundError):
        quantize_int8(tmp_path / "missing.onnx", tmp_path / "out.onnx")
    with pytest.raises(ValueError, match="threads"):
        onnx_session(exported["gpt"], threads=0)
    with pytest.raises(ValueError, match="takes 1 inputs"):
        run_onnx(onnx_session(exported["gpt"]), np.zeros((1, 2), dtype=np.int64), np.zeros(1))


def torch_free_environment(tmp_path: Path) -> dict[str, str]:
    """Environment variables for a Python process in which `import torch` fails, as on a device without it."""
    blocker = tmp_path / "blocker" / "torch"
    blocker.mkdir(parents=True)
    # RuntimeError, not ImportError: a guarded `try: import torch / except ImportError` would hide a dependency
    (blocker / "__init__.py").write_text('raise RuntimeError("no PyTorch on this device")\n')
    return {**os.environ, "PYTHONPATH": str(blocker.parent)}


def run_script(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_script_writes_text_and_digits_where_torch_cannot_be_imported(tmp_path, exported):
    env = torch_free_environment(tmp_path)
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "no PyTorch on this device" in probe.stderr
    text = run_script(["--stats", "text", "--model", str(exported["gpt_int8"]), "--card", str(exported["card"]),
                       "--prompt", "ROMEO:\n", "--tokens", "40"], env)
    assert text.returncode == 0, text.stderr
    stats = json.loads(text.stderr.strip().splitlines()[-1])
    assert 10 < stats["peak_memory_mb"] < 2000 and stats["ms_per_item"] > 0 and stats["load_seconds"] > 0
    written = text.stdout.rstrip("\n")
    assert written.startswith("ROMEO:\n") and len(written) >= len("ROMEO:\n") + 40 - 1  # trailing newlines stripped
    assert set(written) <= set(VOCABULARY)
    out = tmp_path / "digits.png"
    digits = run_script(["digits", "--model", str(exported["generator_int8"]), "--count", "10", "--out", str(out)], env)
    assert digits.returncode == 0, digits.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (8 * 30 + 2, 2 * 30 + 2)  # 10 digits, 8 per row, 2-pixel gaps
    idat = data.index(b"IDAT")
    raw = zlib.decompress(data[idat + 4 : idat + 4 + int.from_bytes(data[idat - 4 : idat], "big")])
    assert len(raw) == height * (width + 1)


def test_the_script_is_reproducible_and_greedy_text_matches_pytorch(tmp_path, exported):
    env = torch_free_environment(tmp_path)
    args = ["--seed", "3", "text", "--model", str(exported["gpt"]), "--card", str(exported["card"]), "--prompt", "ab",
            "--tokens", "20"]
    first, second = run_script(args, env), run_script(args, env)
    assert first.returncode == 0 and first.stdout == second.stdout
    greedy = run_script(args + ["--temperature", "0"], env)
    # the script slides its window over the newest 16 characters: greedy decoding with PyTorch, the same way
    window, ids = GPTLogits(exported["models"]["gpt"]).eval(), [VOCABULARY.index(c) for c in "ab"]
    with torch.no_grad():
        for _ in range(20):
            ids.append(int(window(torch.tensor([ids[-16:]]))[0, -1].argmax()))
    assert greedy.returncode == 0
    assert greedy.stdout.rstrip("\n") == "".join(VOCABULARY[i] for i in ids).rstrip("\n")


def test_the_script_refuses_mismatched_models_cards_and_settings(tmp_path, exported):
    env = torch_free_environment(tmp_path)
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"vocabulary": VOCABULARY[:-3], "block_size": 16}))
    result = run_script(["text", "--model", str(exported["gpt"]), "--card", str(short), "--tokens", "3"], env)
    assert result.returncode == 2 and "is this the card of this model" in result.stderr
    long_context = tmp_path / "long.json"
    long_context.write_text(json.dumps({"vocabulary": VOCABULARY, "block_size": 40}))
    result = run_script(["text", "--model", str(exported["gpt"]), "--card", str(long_context), "--tokens", "40"], env)
    assert result.returncode == 2 and result.stderr.startswith("error:") and "Traceback" not in result.stderr
    result = run_script(["digits", "--model", str(exported["gpt"]), "--out", str(tmp_path / "x.png")], env)
    assert result.returncode == 2 and "Traceback" not in result.stderr  # a text model is not a generator
    result = run_script(["--threads", "0", "digits", "--model", str(exported["generator"]), "--out", str(tmp_path / "x.png")], env)
    assert result.returncode == 2 and "threads must be an integer >= 1" in result.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel behaviour is Linux's")
def test_the_scripts_peak_memory_is_its_own_not_its_parents(tmp_path, exported):
    # Linux carries the starting process's resident memory into a child's ru_maxrss: hold 600 MB here and check
    # that the child (the script needs well under 300 MB) does not report it
    ballast = np.ones(75_000_000)  # 600 MB, touched
    result = run_script(["--stats", "digits", "--model", str(exported["generator"]), "--count", "2", "--out",
                         str(tmp_path / "d.png")], torch_free_environment(tmp_path))
    assert result.returncode == 0, result.stderr
    peak = json.loads(result.stderr.strip().splitlines()[-1])["peak_memory_mb"]
    assert ballast.sum() == 75_000_000 and 10 < peak < 300, peak


def test_the_script_runs_under_python_minus_OO(tmp_path, exported):
    out = tmp_path / "d.png"
    result = subprocess.run([sys.executable, "-OO", str(SCRIPT), "digits", "--model", str(exported["generator"]),
                             "--count", "2", "--out", str(out)], env=torch_free_environment(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_script_reports_bad_input_clearly(tmp_path, exported):
    env = torch_free_environment(tmp_path)
    missing = run_script(["digits", "--model", str(tmp_path / "none.onnx"), "--out", str(tmp_path / "x.png")], env)
    assert missing.returncode == 2 and "no ONNX model" in missing.stderr
    unknown = run_script(["text", "--model", str(exported["gpt"]), "--card", str(exported["card"]), "--prompt", "#"], env)
    assert unknown.returncode == 2 and "unknown: ['#']" in unknown.stderr
    bad_card = tmp_path / "bad.json"
    bad_card.write_text(json.dumps({"vocabulary": "", "block_size": 0}))
    card = run_script(["text", "--model", str(exported["gpt"]), "--card", str(bad_card)], env)
    assert card.returncode == 2 and "card needs" in card.stderr


def test_exported_files_carry_no_debugging_metadata(exported):
    import onnx

    model = onnx.load(str(exported["gpt"]))
    assert model.graph.node and all(len(node.metadata_props) == 0 for node in model.graph.node)
    assert len(model.graph.value_info) == 0
