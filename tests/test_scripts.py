"""The helper scripts: the benchmark table and notebook stripping."""

import importlib.util
import json
import sys

import nbformat
import pytest
import torch

from utils.paths import REPO_ROOT


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is being built
    spec.loader.exec_module(module)
    return module


benchmark = load_script("benchmark")
strip_notebooks = load_script("strip_notebooks")


def test_markdown_table_lists_time_and_metrics_per_chapter():
    rows = [
        {
            "chapter": "01_feedforward",
            "seconds": 95.0,
            "exercise_seconds": 12.4,
            "metrics": {"test_accuracy": 0.98543, "epochs": 8},
            "error": None,
        },
        {"chapter": "02_cnn", "seconds": 30.0, "exercise_seconds": 0.0, "metrics": {}, "error": "AssertionError: too low"},
    ]
    table = benchmark.markdown_table(rows).splitlines()
    assert table[0] == "| chapter | wall time | of which exercises | recorded metrics |"
    assert table[2] == "| `01_feedforward` | 1.6 min (95 s) | 12 s | `test_accuracy` 0.9854, `epochs` 8 |"
    assert table[3] == "| `02_cnn` | 0.5 min (30 s) | 0 s | **failed**: AssertionError: too low |"
    assert table[5].startswith("Total 2.1 min on ")


def test_exercise_seconds_adds_up_the_graded_cells_only():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("y = 2"),
                                         nbformat.v4.new_code_cell("z = 3")])
    timing = {"iopub.execute_input": "2026-01-01T10:00:00.000000Z", "shell.execute_reply": "2026-01-01T10:00:02.500000Z"}
    for cell in nb.cells:
        cell.metadata["execution"] = dict(timing)
    nb.cells[1].metadata["nbgrader"] = {"grade": False, "solution": True, "grade_id": "a"}
    nb.cells[2].metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "b", "points": 1}
    assert benchmark.exercise_seconds(nb) == 5.0


def test_readme_table_is_replaced_between_markers():
    text = "intro\n<!-- benchmark:start -->\nold\n<!-- benchmark:end -->\nrest"
    assert (
        benchmark.replace_between_markers(text, "new")
        == "intro\n<!-- benchmark:start -->\nnew\n<!-- benchmark:end -->\nrest"
    )
    with pytest.raises(ValueError, match="needs the markers"):
        benchmark.replace_between_markers("no markers", "new")


def test_readme_has_the_benchmark_markers():
    readme = (REPO_ROOT / "README.md").read_text()
    assert benchmark.README_START in readme and benchmark.README_END in readme


def test_benchmark_rejects_unknown_chapters(capsys):
    with pytest.raises(SystemExit):
        benchmark.main(["99_nothing"])
    assert "unknown chapter" in capsys.readouterr().err


def test_strip_removes_outputs_and_counts(tmp_path):
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "source": "1",
                "metadata": {"execution": {}},
                "outputs": [{"x": 1}],
                "execution_count": 3,
            },
            {"cell_type": "markdown", "source": "# t", "metadata": {}},
        ],
        "metadata": {"widgets": {}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    assert strip_notebooks.strip(path) is True
    cleaned = json.loads(path.read_text())
    assert cleaned["cells"][0]["outputs"] == [] and cleaned["cells"][0]["execution_count"] is None
    assert cleaned["cells"][0]["metadata"] == {} and "widgets" not in cleaned["metadata"]
    assert strip_notebooks.strip(path) is False  # idempotent


gan_recipes = load_script("gan_recipes")


def test_gan_recipes_rejects_unknown_recipes(capsys):
    with pytest.raises(SystemExit):
        gan_recipes.main(["--recipes", "baseline,magic"])
    assert "unknown recipe(s) magic" in capsys.readouterr().err


def test_gan_recipe_row_reports_steps_and_scores():
    from utils.data import load_mnist
    from utils.recipes import DCGANRecipe

    images = load_mnist("test")[0][:256]
    recipe = gan_recipes.Recipe("tiny", DCGANRecipe(batch_size=64, ema_decay=0.9))
    row = gan_recipes.run(recipe, images, epochs=1, n_scored=200)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert len(cells) == len(gan_recipes.HEADER.splitlines()[0].strip("|").split("|"))
    assert cells[0] == "tiny" and cells[1] == "4"  # 256 images / batch 64 = 4 steps
    raw_ratio, raw_entropy, raw_confidence, ratio, entropy, confidence = map(float, cells[3:])
    assert raw_ratio > 0.1 and ratio > 0.1  # four steps from scratch are far from digits
    assert raw_ratio != ratio  # the EMA generator is scored, and the raw one beside it
    assert 0 <= entropy <= 2.31 and 0.1 <= confidence <= 1 and 0 <= raw_entropy <= 2.31 and 0.1 <= raw_confidence <= 1


def test_gan_recipe_row_without_an_ema_leaves_the_ema_columns_empty():
    from utils.data import load_mnist
    from utils.recipes import DCGANRecipe

    images = load_mnist("test")[0][:128]
    row = gan_recipes.run(gan_recipes.Recipe("plain", DCGANRecipe(batch_size=64, ema_decay=None)), images, epochs=1,
                          n_scored=200)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[6:] == ["-", "-", "-"] and float(cells[3]) > 0.1


def test_the_committed_gan_recipe_table_lists_every_recipe_and_how_it_was_measured():
    from utils.measured import measured_table

    table = measured_table("gan_recipes")
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| recipe")]
    assert [row.split("|")[1].strip() for row in rows] == [r.description for r in gan_recipes.RECIPES.values()]
    assert "Measured by `python scripts/gan_recipes.py` on " in table


gpt_recipes = load_script("gpt_recipes")


def test_gpt_recipes_rejects_unknown_recipes(capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["gpt_recipes.py", "--recipes", "chapter,magic"])
    with pytest.raises(SystemExit):
        gpt_recipes.main()
    assert "unknown recipe(s) magic" in capsys.readouterr().err


def test_gpt_recipe_row_reports_steps_time_and_validation_loss():
    stream = torch.arange(8).repeat(40)
    recipe = gpt_recipes.Recipe(
        "tiny",
        {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8},
        {"block_size": 8, "batch_size": 4, "steps": 30, "warmup_steps": 3},
    )
    row = gpt_recipes.run(recipe, stream[:240], stream[240:], vocab_size=8)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[0] == "tiny" and cells[1] == "30 × 4" and cells[2].endswith(" s")
    assert 0 < float(cells[3]) < 2.08  # below a uniform guess over 8 tokens (ln 8): it learned something
    mismatched = gpt_recipes.Recipe("bad", {"block_size": 8, "n_embd": 16}, {"block_size": 16})
    with pytest.raises(ValueError, match="training windows of 16 for a model of block_size 8"):
        gpt_recipes.run(mismatched, stream, stream, vocab_size=8)


def test_the_committed_gpt_recipe_table_lists_every_recipe_and_how_it_was_measured():
    from utils.measured import measured_table

    table = measured_table("gpt_recipes")
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| recipe")]
    assert [row.split("|")[1].strip() for row in rows] == [r.description for r in gpt_recipes.RECIPES.values()]
    assert all(float(row.split("|")[4]) < 2.5 for row in rows)  # every recipe learned (uniform: ln 65 = 4.17)
    assert "Measured by `python scripts/gpt_recipes.py` on " in table


# --- the training scripts of the shipped models ------------------------------------------------------------


def small_mnist(split: str = "train"):
    from utils.data import load_mnist

    images, labels = load_mnist("test")
    return images[:256], labels[:256]


@pytest.mark.parametrize(
    "script, entry_name, args",
    [
        ("train_mnist_classifier", "mnist_classifier", ["--epochs", "1"]),
        ("train_dcgan", "dcgan-mnist", ["--epochs", "1"]),
        ("train_vae", "vae-mnist", ["--epochs", "1"]),
    ],
)
def test_an_image_training_script_trains_its_entry_and_refuses_to_ship_below_target(
    script, entry_name, args, tmp_path, monkeypatch, capsys
):
    """One epoch on 256 digits trains the entry's model with its recipe, is measured like the shipped file, misses
    the target, and writes nothing."""
    from utils.pretrained import info

    module = load_script(script)
    monkeypatch.setattr(module, "load_mnist", small_mnist)
    out = tmp_path / "weights.pt"
    with pytest.raises(SystemExit, match=f"not shipped: {entry_name}: .*the weights were not written"):
        module.main([*args, "--out", str(out)])
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert "trained 1 epochs" in capsys.readouterr().out
    assert info(entry_name).path.exists(), "the shipped file is untouched"


def test_the_gpt_training_script_trains_its_entry_and_refuses_to_ship_below_target(tmp_path, monkeypatch):
    from dataclasses import replace

    from utils.pretrained import info

    module = load_script("train_gpt")
    entry = info("gpt-shakespeare")
    quick = replace(entry, recipe=replace(entry.recipe, batch_size=2, warmup_steps=1))
    monkeypatch.setattr(module, "info", lambda name: quick if name == entry.name else info(name))
    out = tmp_path / "weights.pt"
    with pytest.raises(SystemExit, match=r"not shipped: gpt-shakespeare: loss on the Tiny Shakespeare .* is [3-9]\."):
        module.main(["--steps", "3", "--out", str(out)])
    assert not out.exists()


def test_the_diffusion_training_script_trains_its_entry_and_refuses_to_ship_below_target(tmp_path, monkeypatch, capsys):
    """Three steps train the entry's model with its recipe on 256 digits; measured (on fewer samples, one Euler step,
    to keep the test short) it misses the target, and nothing is written."""
    from dataclasses import replace

    from utils.metrics import score_generator
    from utils.pretrained import info

    module = load_script("train_diffusion")
    entry = info("diffusion-mnist")

    def one_step_build():
        model = entry.build()
        model.steps, model.method = 1, "euler"
        return model

    quick = replace(entry, build=one_step_build, recipe=replace(entry.recipe, batch_size=16, warmup_steps=1),
                    measure=lambda model: score_generator(model, n=500).frechet_ratio)
    monkeypatch.setattr(module, "info", lambda name: quick if name == entry.name else info(name))
    monkeypatch.setattr(module, "load_mnist", small_mnist)
    out = tmp_path / "weights.pt"
    with pytest.raises(SystemExit, match=r"not shipped: diffusion-mnist: Fréchet distance .* is (0\.[1-9]|[1-9])"):
        module.main(["--steps", "3", "--out", str(out)])
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert "trained 3 steps" in capsys.readouterr().out


def test_no_training_script_names_a_weights_file_or_writes_a_checkpoint_itself():
    import ast

    for path in sorted((REPO_ROOT / "scripts").glob("train_*.py")):
        text = path.read_text()
        tree = ast.parse(text)
        docstring = ast.get_docstring(tree, clean=False)
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        assert not [s for s in strings if ".pt" in s and s != docstring], f"{path.name}: the entry names the file"
        assert "save_checkpoint" not in text and "sha256_of" not in text, f"{path.name}: ship through utils.registry"
        assert "ship_or_exit(entry" in text and "entry.build()" in text and "entry.recipe" in text, path.name


def test_the_latent_flow_training_script_trains_its_entry_and_refuses_to_ship_below_target(tmp_path, monkeypatch, capsys):
    """Three steps train the entry's velocity network on the shipped VAE's codes of 256 digits; measured on fewer
    samples it misses the target, nothing is written, and the shipped VAE inside is left as it was."""
    from dataclasses import replace

    from utils.metrics import score_generator
    from utils.pretrained import info, load

    module = load_script("train_latent_flow")
    entry = info("latent-flow-mnist")
    quick = replace(entry, recipe=replace(entry.recipe, batch_size=16, warmup_steps=1),
                    measure=lambda model: score_generator(model, n=500).frechet_ratio)
    monkeypatch.setattr(module, "info", lambda name: quick if name == entry.name else info(name))
    monkeypatch.setattr(module, "load_mnist", small_mnist)
    out = tmp_path / "weights.pt"
    trained = module.train(quick, 3)
    vae = load("vae-mnist")
    assert all(torch.equal(a, b) for a, b in zip(trained.vae.state_dict().values(), vae.state_dict().values()))
    assert trained.code_std.min() > 0 and not torch.equal(trained.code_mean, torch.zeros(32))
    # untrained, the velocity is small and the samples are close to the VAE's prior samples: below target, not noise
    with pytest.raises(SystemExit, match=r"not shipped: latent-flow-mnist: Fréchet distance .* is 0\.0[3-9]\d*, its target"):
        module.main(["--steps", "3", "--out", str(out)])
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert "trained 3 steps" in capsys.readouterr().out
