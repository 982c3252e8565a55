"""Running the course on Google Colab: where the course lives, and what every chapter's setup cell does there.

A notebook opened from its Open-in-Colab badge arrives alone, without the rest of the course. The first lines of
its setup cell, ``colab_setup_code()``, the same in every chapter, then

1. clone the repository at ``COURSE_URL`` (branch ``COURSE_BRANCH``) into ``~/dgm-pytorch``, once per runtime;
2. install it with ``pip install --no-deps --editable``: Colab's own torch, numpy, ipywidgets, matplotlib and tqdm
   are used as they are, never upgraded or replaced;
3. put the clone first on ``sys.path``, so that ``utils`` imports at once, without restarting the runtime (an
   editable install alone is seen only by processes started after it).

This module is the one place that names the repository. ``python scripts/sync_colab.py`` writes it into every
chapter's badge and setup cell (then ``make student`` carries it into the student versions); the tests check that
the notebooks, ``pyproject.toml`` and this module agree.
"""

from __future__ import annotations

from pathlib import PurePosixPath

COURSE_URL = "https://github.com/dgm-course/dgm-pytorch"
COURSE_BRANCH = "main"
CLONE_DIR = "dgm-pytorch"  # under the home folder of the Colab runtime
SETUP_TITLE = "# Setup: on Colab, fetch and install the course; everywhere, pick the device and seed."


def github_repo(url: str = COURSE_URL) -> str:
    """``'owner/name'`` of a GitHub repository URL; ``ValueError`` for any other URL."""
    prefix = "https://github.com/"
    parts = url.removeprefix(prefix).strip("/").removesuffix(".git").split("/")
    if not url.startswith(prefix) or len(parts) != 2 or not all(parts):
        raise ValueError(f"expected a GitHub repository URL like {prefix}owner/name, got {url!r}")
    return "/".join(parts)


def colab_badge_url(notebook: str | PurePosixPath) -> str:
    """The Open-in-Colab link of the notebook at ``notebook``, a path inside the repository.

    >>> colab_badge_url("chapters/01_feedforward.ipynb")
    'https://colab.research.google.com/github/dgm-course/dgm-pytorch/blob/main/chapters/01_feedforward.ipynb'
    """
    path = PurePosixPath(notebook)
    if path.is_absolute() or ".." in path.parts or path.suffix != ".ipynb":
        raise ValueError(f"expected a notebook path inside the repository, like chapters/01_x.ipynb, got {notebook}")
    return f"https://colab.research.google.com/github/{github_repo()}/blob/{COURSE_BRANCH}/{path}"


def colab_badge_markdown(notebook: str | PurePosixPath) -> str:
    """The badge as Markdown, for the first cell of ``notebook``."""
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_badge_url(notebook)})"


def colab_setup_code() -> str:
    """The first lines of every chapter's setup cell: on Colab, clone, install and import the course.

    Outside Colab (``google.colab`` not imported) the block does nothing: there ``make lab`` installed the course.
    """
    return f'''{SETUP_TITLE}
import sys

if "google.colab" in sys.modules:  # Colab keeps its own torch, numpy and ipywidgets; only the course is installed
    import pathlib
    import subprocess

    repo = pathlib.Path.home() / "{CLONE_DIR}"
    if not (repo / "pyproject.toml").exists():
        url, branch = "{COURSE_URL}", "{COURSE_BRANCH}"  # utils.colab.COURSE_URL
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", branch, url, str(repo)], check=True)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", "--editable", str(repo)], check=True)
    if str(repo) not in sys.path:  # importable now, without restarting the runtime
        sys.path.insert(0, str(repo))
'''
