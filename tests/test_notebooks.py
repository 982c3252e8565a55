"""The course's notebook conventions, checked for every chapter (nbval executes them separately)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from utils.colab import colab_badge_url, colab_setup_code
from utils.paths import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
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
    assert text.startswith(colab_setup_code()), "the setup cell starts with utils.colab's block: run scripts/sync_colab.py"
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
    assert f'record_results("{path.stem}"' in "".join(chapter_code[-1]), \
        f"{path.name}: the last code cell before the exercises records results"


def test_no_output_checks_that_nbval_would_skip(notebook):
    """nbval compares stored outputs only for cells saved *with* an execution count. Our notebooks are committed
    stripped, so an ``# NBVAL_CHECK_OUTPUT`` marker would silently check nothing: deterministic cells assert
    their facts instead."""
    path, nb = notebook
    assert not any("NBVAL_CHECK_OUTPUT" in c for c in sources(nb)), f"{path.name}: use an assert instead"
