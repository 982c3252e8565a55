"""The Colab path: utils.colab, scripts/sync_colab.py, and a chapter run the way Colab runs it.

The simulation (``test_a_chapter_runs_as_on_colab``) builds a Python that, like a fresh Colab runtime, has torch,
numpy, matplotlib, tqdm and ipywidgets but not the course, and a stand-in ``google.colab`` module that its
kernels import at start-up, as Colab's do. It runs chapter 01 from a temporary folder outside the repository, with
the home folder in the temporary folder and git told to fetch ``COURSE_URL`` from a local copy of this working tree
(``url.<copy>.insteadOf``), so the setup cell runs unchanged: it clones, installs and imports the course.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
import tomllib
import venv
from pathlib import Path

import nbformat
import network_guard
import pytest

from utils.colab import CLONE_DIR, COURSE_URL, colab_badge_markdown, colab_badge_url, colab_setup_code, github_repo
from utils.paths import REPO_ROOT

SYNC = REPO_ROOT / "scripts" / "sync_colab.py"
CHAPTER = REPO_ROOT / "chapters" / "01_feedforward.ipynb"


def load_sync_script():
    spec = importlib.util.spec_from_file_location("sync_colab", SYNC)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- utils.colab -----------------------------------------------------------------------------------------------


def test_the_course_url_is_the_repository_in_pyproject():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["urls"]["Repository"] == COURSE_URL
    assert github_repo() == "dgm-course/dgm-pytorch"


@pytest.mark.parametrize("url", ["https://gitlab.com/a/b", "https://github.com/only-owner", "github.com/a/b", ""])
def test_a_url_that_is_not_a_github_repository_is_refused(url):
    with pytest.raises(ValueError, match="GitHub repository URL"):
        github_repo(url)


def test_badge_links_open_the_notebook_at_its_path_on_the_course_branch():
    assert github_repo("https://github.com/me/fork.git/") == "me/fork"
    assert colab_badge_url("student/02_cnn.ipynb") == (
        "https://colab.research.google.com/github/dgm-course/dgm-pytorch/blob/main/student/02_cnn.ipynb"
    )
    assert colab_badge_markdown("chapters/02_cnn.ipynb").startswith("[![Open In Colab](")
    for bad in ("/abs/01.ipynb", "../01.ipynb", "chapters/01.py"):
        with pytest.raises(ValueError, match="notebook path inside the repository"):
            colab_badge_url(bad)


def test_the_setup_block_does_nothing_outside_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)

    def forbidden(*args, **kwargs):
        raise AssertionError("outside Colab the setup block must not run commands")

    monkeypatch.setattr(subprocess, "run", forbidden)
    namespace: dict = {}
    exec(compile(colab_setup_code(), "setup", "exec"), namespace)
    assert set(namespace) - {"__builtins__"} == {"sys"}


def test_the_setup_block_never_upgrades_colabs_packages():
    code = colab_setup_code()
    assert "--no-deps" in code and "--upgrade" not in code and " -U" not in code
    assert f'"{COURSE_URL}"' in code and "sys.path.insert(0, str(repo))" in code


# --- scripts/sync_colab.py -------------------------------------------------------------------------------------


def test_every_chapter_is_in_sync_with_utils_colab():
    assert load_sync_script().main(["--check"]) == 0


def test_sync_rewrites_an_old_badge_and_setup_block_and_keeps_the_rest():
    sync = load_sync_script()
    nb = json.loads(CHAPTER.read_text())
    old_title = (
        "# T\n[![Open In Colab](https://x/y.svg)](https://colab.research.google.com/github/old/repo/blob/dev/a.ipynb)\n"
    )
    nb["cells"][0]["source"] = old_title
    nb["cells"][1]["source"] = (
        'import sys\nif "google.colab" in sys.modules:\n    clone("old")\n\nimport torch\nx = 1\n'
    )
    out = sync.synced(nb, "chapters/01_feedforward.ipynb")
    title, setup = "".join(out["cells"][0]["source"]), "".join(out["cells"][1]["source"])
    assert (
        title.startswith("# T\n") and colab_badge_url("chapters/01_feedforward.ipynb") in title and "old" not in title
    )
    assert setup == colab_setup_code() + "\nimport torch\nx = 1\n"


def test_sync_refuses_a_setup_cell_without_a_colab_block():
    with pytest.raises(ValueError, match='no `if "google.colab" in sys.modules:` block'):
        load_sync_script().split_setup("import torch\n")


# --- the simulation --------------------------------------------------------------------------------------------


def working_tree_copy(dest: Path) -> Path:
    """A git repository holding this working tree as it is now (committed or not): the stand-in for GitHub."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the course is not a git checkout here")
    for name in filter(None, listed.decode().split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git = ["git", "-C", str(dest), "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for command in (
        ["init", "--quiet", "--initial-branch=main"],
        ["add", "--all"],
        ["commit", "--quiet", "-m", "copy"],
    ):
        subprocess.run(git + command, check=True)
    return dest


def colab_like_python(dest: Path) -> tuple[Path, Path]:
    """A virtual environment that sees this environment's packages (torch, ipykernel...) but not the course.

    Only the package folders are linked in, by a ``.pth`` file; their own ``.pth`` files, among them the course's
    editable install, are not processed. Returns its python and its site-packages folder.
    """
    venv.EnvBuilder(with_pip=False).create(dest)
    python = dest / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "colab-runtime-packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python, Path(purelib)


STAND_IN_COLAB = '''"""Stand-in for Colab's google.colab module: the chapters only check that it is imported."""
'''
AFTER_RUN = """\
import importlib.metadata, json, pathlib
import numpy, torch, ipywidgets, utils
print(json.dumps({"utils": str(pathlib.Path(utils.__file__).resolve()), "torch": torch.__version__,
                  "numpy": numpy.__version__, "ipywidgets": ipywidgets.__version__,
                  "installed": importlib.metadata.version("dgm-course")}))
"""


def test_a_chapter_runs_as_on_colab(tmp_path):
    origin = working_tree_copy(tmp_path / "github")
    python, purelib = colab_like_python(tmp_path / "colab-python")
    home, work, stand_in, ipython = (tmp_path / name for name in ("home", "content", "stand-in", "ipython"))
    (stand_in / "google" / "colab").mkdir(parents=True)  # `google` stays a namespace package (google.protobuf...)
    (stand_in / "google" / "colab" / "__init__.py").write_text(STAND_IN_COLAB)
    startup = network_guard.kernel_profile(ipython) / "profile_default" / "startup"  # offline, as in all tests
    (startup / "01-colab.py").write_text("import google.colab  # as a Colab kernel does at start-up\n")
    for folder in (home, work):
        folder.mkdir()

    nb = nbformat.read(CHAPTER, as_version=4)
    before = (
        "import importlib.util\nassert importlib.util.find_spec('utils') is None, 'the course is already importable'"
    )
    nb.cells.insert(0, nbformat.v4.new_code_cell(before))
    nb.cells.append(nbformat.v4.new_code_cell(AFTER_RUN))
    notebook = work / CHAPTER.name
    nbformat.write(nb, notebook)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER", "IPYTHON"))}
    env.update(
        HOME=str(home),
        IPYTHONDIR=str(ipython),
        PYTHONPATH=str(stand_in),
        COURSE_RUNS_DIR=str(tmp_path / "runs"),
        # git fetches COURSE_URL from the local copy: the setup cell runs exactly as written.
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0=f"url.file://{origin}.insteadOf",
        GIT_CONFIG_VALUE_0=COURSE_URL,
        # No network here: pip builds the editable install with the setuptools it has instead of fetching one.
        PIP_NO_BUILD_ISOLATION="0",
        PIP_NO_INDEX="1",
    )
    run = textwrap.dedent(f"""
        import nbclient, nbformat
        nb = nbformat.read({str(notebook)!r}, as_version=4)
        nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={{"metadata": {{"path": {str(work)!r}}}}}).execute()
        nbformat.write(nb, {str(notebook)!r})
    """)  # fmt: skip
    result = subprocess.run(
        [python, "-c", run], cwd=work, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, f"the chapter failed as on Colab:\n{result.stderr[-4000:]}"

    executed = nbformat.read(notebook, as_version=4)
    report = json.loads(executed.cells[-1].outputs[-1]["text"])
    clone = home / CLONE_DIR
    assert report["utils"] == str(clone / "utils" / "__init__.py"), "utils must come from the clone"
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert report["installed"] == version, "pip installed the course"
    import ipywidgets
    import numpy
    import torch

    assert (report["torch"], report["numpy"], report["ipywidgets"]) == (
        torch.__version__,
        numpy.__version__,
        ipywidgets.__version__,
    ), "Colab's own packages must stay as they were"
    origin_url = subprocess.run(
        ["git", "-C", str(clone), "remote", "get-url", "origin"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert origin_url == COURSE_URL, "the setup cell clones utils.colab.COURSE_URL"
    installed = sorted(p.name for p in purelib.glob("*.dist-info"))
    assert installed == [f"dgm_course-{version}.dist-info"], (
        f"pip must install the course and nothing else: {installed}"
    )
