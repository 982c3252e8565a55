"""The course's notebook conventions, checked for every chapter (nbval executes them separately)."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import torch

from utils.colab import colab_badge_url, colab_setup_code
from utils.paths import chapter_paths

NOTEBOOKS = chapter_paths()
ABSOLUTE_PATH = re.compile(r"""["'](/(home|Users|tmp|work|root|content|mnt)/|[A-Za-z]:\\\\)""")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def sources(nb: dict, cell_type: str = "code") -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == cell_type]


def test_chapters_exist():
    assert [p.name for p in NOTEBOOKS][:1] == ["01_feedforward.ipynb"]


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def notebook(request) -> tuple[Path, dict]:
    return request.param, load(request.param)


def test_outputs_are_stripped(notebook):
    path, nb = notebook
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name} cell {i}: run `make strip`"


def test_kernel_is_python3(notebook):
    _, nb = notebook
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_first_cell_has_title_colab_badge_for_its_own_path_and_goals(notebook):
    path, nb = notebook
    first = nb["cells"][0]
    text = "".join(first["source"])
    assert first["cell_type"] == "markdown" and text.startswith("# "), "first cell: a markdown title"
    badge = colab_badge_url(f"chapters/{path.name}")
    assert badge in text, f"first cell needs an Open-in-Colab badge linking {badge}: run scripts/sync_colab.py"
    assert "colab-badge.svg" in text
    assert re.search(r"learning goals", text, re.IGNORECASE), "first cell: state the learning goals"


def test_second_cell_sets_up_colab_and_picks_the_device(notebook):
    _, nb = notebook
    second = nb["cells"][1]
    text = "".join(second["source"])
    assert second["cell_type"] == "code"
    assert text.startswith(colab_setup_code()), (
        "the setup cell starts with utils.colab's block: run scripts/sync_colab.py"
    )
    assert "get_device()" in text and "seed_everything(" in text


def test_no_absolute_paths_or_working_directory_tricks(notebook):
    path, nb = notebook
    for text in sources(nb):
        assert not ABSOLUTE_PATH.search(text), f"{path.name}: absolute path in\n{text}"
        assert "os.chdir" not in text and "%cd" not in text, f"{path.name}: do not change the working directory"
        assert not re.search(r"""["']\.\.?/""", text), f"{path.name}: relative path; use utils.paths instead"


def test_progress_bars_come_from_tqdm_auto(notebook):
    path, nb = notebook
    for text in sources(nb):
        assert not re.search(r"^\s*(from tqdm import|import tqdm\b)", text, re.MULTILINE), f"{path.name}: use tqdm.auto"


def test_plotting_cells_end_with_plt_show(notebook):
    path, nb = notebook
    for text in sources(nb):
        plots = re.search(r"\b(plt\.(subplots|figure|plot|imshow)|show_images|plot_curves)\(", text)
        defines_only = text.lstrip().startswith(("def ", "class ", "import ", "from ")) and "plt.show()" not in text
        if plots and not defines_only and "interact(" not in text:
            assert text.rstrip().endswith("plt.show()"), f"{path.name}: end the plotting cell with plt.show():\n{text}"


def test_has_a_check_your_results_cell_and_records_results(notebook):
    path, nb = notebook
    headings = sources(nb, "markdown")
    assert any(re.search(r"^#+ Check your results", h, re.MULTILINE) for h in headings), f"{path.name}: add the heading"
    code = sources(nb)
    target = re.compile(r"^assert .*(>=|<=) *\d", re.MULTILINE)  # a measured value against a numeric target
    assert any(target.search(c) for c in code), f"{path.name}: assert the targets"
    chapter_code = [c["source"] for c in nb["cells"] if c["cell_type"] == "code" and "nbgrader" not in c["metadata"]]
    assert f'record_results("{path.stem}"' in "".join(chapter_code[-1]), (
        f"{path.name}: the last code cell before the exercises records results"
    )


def test_no_output_checks_that_nbval_would_skip(notebook):
    """nbval compares stored outputs only for cells saved *with* an execution count. Our notebooks are committed
    stripped, so an ``# NBVAL_CHECK_OUTPUT`` marker would silently check nothing: deterministic cells assert
    their facts instead."""
    path, nb = notebook
    assert not any("NBVAL_CHECK_OUTPUT" in c for c in sources(nb)), f"{path.name}: use an assert instead"


def settings_cell(nb: dict) -> str:
    """The one code cell that picks the chapter's settings with ``for_device(device, cpu=..., cuda=...)``."""
    cells = [text for text in sources(nb) if re.search(r"for_device\(\s*device,", text)]
    assert len(cells) == 1, "one settings cell per chapter: `config = for_device(device, cpu=..., cuda=...)`"
    return cells[0]


def run_settings_cell(text: str, device: str) -> dict:
    """Execute the settings cell alone on a (pretend) ``device``; return the names it assigns from ``for_device``."""
    names = [
        target.id
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
        and getattr(node.value.func, "id", None) == "for_device"
        for target in (node.targets[0].elts if isinstance(node.targets[0], ast.Tuple) else node.targets)
    ]  # fmt: skip
    namespace = {"device": torch.device(device), "vocab": [chr(i) for i in range(65)]}  # chapter 06 needs a vocab
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(text, "settings cell", "exec"), namespace)
    return {name: repr(namespace[name]) for name in names}  # repr: each run defines its own dataclasses


def test_each_chapter_selects_its_larger_gpu_setting_automatically_on_cuda(notebook):
    path, nb = notebook
    text = settings_cell(nb)
    on_cpu, on_cuda, on_mps = (run_settings_cell(text, d) for d in ("cpu", "cuda", "mps"))
    assert on_cpu, f"{path.name}: the settings cell assigns nothing from for_device"
    assert on_cuda != on_cpu, f"{path.name}: a CUDA GPU must get the larger setting"
    assert on_mps == on_cpu, f"{path.name}: MPS and the CPU share the laptop setting"
    assert not re.search(r"device\.type\s*[=!]=", "\n".join(sources(nb))), "pick settings with for_device"
