"""Where the repository, its datasets and its run records live, and writing files atomically.

Everything is located relative to this package, never relative to the working directory, so a notebook finds the
same files whether it is started from ``chapters/``, the repository root or by a test runner.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
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


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[str]:
    """Yield a temporary file name beside ``path`` for a writer to fill (a tool that takes a file name); when the
    block ends without an error the file becomes ``path`` in one rename, with mode ``file_mode()``. On an error,
    or if the file is missing, nothing is left behind and ``path`` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp_name
        os.chmod(tmp_name, file_mode())
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that the file appears complete or not at all (temp file + rename).

    The file gets the mode ``open()`` would give it (``file_mode()``), not ``mkstemp``'s owner-only ``0o600``.
    """
    with atomic_path(path) as tmp_name, open(tmp_name, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return path
