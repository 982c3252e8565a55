"""Shared fixtures. Tests never reach the internet, nor do the notebook kernels they start (tests/network_guard.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import matplotlib
import network_guard
import pytest

matplotlib.use("Agg")  # no windows during tests


def pytest_configure(config: pytest.Config) -> None:
    """Every notebook kernel this session starts (nbval, the autograder, JupyterLab) runs offline too."""
    folder = Path(tempfile.mkdtemp(prefix="course-ipython-"))
    config._course_ipython_dir = folder  # type: ignore[attr-defined]
    os.environ["IPYTHONDIR"] = str(network_guard.kernel_profile(folder))


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = getattr(config, "_course_ipython_dir", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True, scope="session")
def no_internet():
    network_guard.install()
    yield
    network_guard.uninstall()


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty runs folder (``$COURSE_RUNS_DIR``)."""
    path = tmp_path / "runs"
    monkeypatch.setenv("COURSE_RUNS_DIR", str(path))
    return path


@pytest.fixture
def empty_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty data folder (``$COURSE_DATA_DIR``) with no mirror configured."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(path))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    return path
