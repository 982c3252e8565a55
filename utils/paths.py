"""Where the repository, its datasets and its run records live, and writing files atomically.

Everything is located relative to this package, never relative to the working directory, so a notebook finds the
same files whether it is started from ``chapters/``, the repository root or by a test runner.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
CHAPTERS_DIR: Path = REPO_ROOT / "chapters"

DATA_DIR_ENV = "COURSE_DATA_DIR"
RUNS_DIR_ENV = "COURSE_RUNS_DIR"


def chapter_paths() -> list[Path]:
    """Every chapter notebook, in order: ``chapters/NN_topic.ipynb``."""
    return sorted(CHAPTERS_DIR.glob("[0-9][0-9]_*.ipynb"))


def data_dir() -> Path:
    """The folder that holds the datasets: ``$COURSE_DATA_DIR`` if set, else ``<repo>/data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or REPO_ROOT / "data").expanduser().resolve()


def runs_dir() -> Path:
    """The folder where chapters write results and checkpoints: ``$COURSE_RUNS_DIR`` if set, else ``<repo>/runs``."""
    return Path(os.environ.get(RUNS_DIR_ENV) or REPO_ROOT / "runs").expanduser().resolve()


_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (``/proc/self/status`` on Linux)."""
    try:
        with open("/proc/self/status") as status:
            found = re.search(r"^Umask:\s*([0-7]+)$", status.read(), re.MULTILINE)
        if found:
            return int(found.group(1), 8)
    except OSError:
        pass
    with _umask_lock:  # elsewhere: set and restore at once (meanwhile another thread's new file is owner-only)
        old = os.umask(0o077)
        os.umask(old)
    return old


def file_mode() -> int:
    """The mode a new file gets from ``open()``: ``0o666`` less the umask (``0o644`` under the usual ``0o022``).

    ``tempfile.mkstemp`` creates files readable by their owner only (``0o600``); files that ``utils`` writes
    through a temporary file get this mode instead, so a data, runs or weights folder shared by a group works.
    """
    return 0o666 & ~current_umask()


def atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that the file appears complete or not at all (temp file + rename).

    The file gets the mode ``open()`` would give it (``file_mode()``), not ``mkstemp``'s owner-only ``0o600``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.chmod(tmp_name, file_mode())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return path
