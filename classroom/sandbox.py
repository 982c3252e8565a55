"""Where a submission's kernel runs: a bubblewrap sandbox that sees only the installed course and a private folder.

The autograder executes students' code. Each submission gets a fresh kernel inside ``bwrap`` (Debian/Ubuntu package
``bubblewrap``) with

- its own file system: the system's programs and libraries, the Python environment and the course's ``utils`` and
  ``data`` folders, all read-only, and a private writable home; never the chapters (solutions, hidden tests), the
  grader's code, other submissions or the reports (of ``classroom/`` it sees only ``refuse.py``, the helper that
  test cells import, and the package's ``__init__.py``);
- its own process, network, IPC and host-name namespaces: it cannot see or signal the grader or any other process,
  reaches no network, and every process it starts dies with it (the grader kills the sandbox when the notebook ends,
  runs out of time, or a cell will not stop);
- a clean environment (only the variables set here) and no capabilities.

The grader talks to the kernel over Unix sockets in a folder shared with the sandbox (``transport="ipc"``), since
the sandbox has no network. Where bubblewrap is missing or cannot run (macOS, Windows, a container that forbids user
namespaces), :func:`unsandboxed_kernel` runs the kernel as a plain process with a clean environment and a private
folder, and every report says in words what is then not protected (classroom.report.MISSING_WITHOUT_SANDBOX).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpecManager

import utils
from utils.paths import REPO_ROOT, data_dir

KERNEL_NAME = "course-grading"
SANDBOX_HOME = "/home/student"
TMPFS_BYTES = 1 << 30  # /tmp and /dev/shm are in memory: 1 GiB each at most
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")



def bwrap_path() -> str | None:
    """The ``bwrap`` program if it is installed (whether it works here is :func:`sandbox_works`'s question)."""
    return shutil.which("bwrap")


@dataclass
class KernelPlace:
    """A private folder for one submission's kernel: its home (working folder), sockets and kernel spec."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def sockets(self) -> Path:
        return self.root / "sockets"

    @property
    def specs(self) -> Path:
        return self.root / "kernels"


def new_place() -> KernelPlace:
    """Fresh, empty folders for one kernel (the caller removes ``root`` when done)."""
    place = KernelPlace(Path(tempfile.mkdtemp(prefix="course-grading-")))
    for folder in (place.home, place.sockets, place.specs / KERNEL_NAME):
        folder.mkdir(parents=True)
    return place


def kernel_environment(home: str) -> dict[str, str]:
    """The whole environment of a grading kernel: nothing of the grader's (no tokens, paths or mirrors)."""
    return {
        "HOME": home,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": f"{home}/.config/matplotlib",
        "COURSE_RUNS_DIR": f"{home}/runs",
        "COURSE_DATA_DIR": str(data_dir()),
        "COURSE_DEVICE": "cpu",
        "PYTHONDONTWRITEBYTECODE": "1",
        # Windows cannot start Python's sockets without it (the unsandboxed fallback there).
        **({"SYSTEMROOT": os.environ["SYSTEMROOT"]} if "SYSTEMROOT" in os.environ else {}),
    }


# The files of classroom/ that test cells import inside the kernel (``from classroom.refuse import refusing``).
TEST_HELPER_FILES = (Path(__file__).with_name("__init__.py"), Path(__file__).with_name("refuse.py"))


def _read_only_paths() -> list[str]:
    """What the kernel needs, read-only: the Python installation and environment, ``utils``, the data and the test
    helper files of ``classroom``."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(), Path(utils.__file__).parent,
             data_dir(), *TEST_HELPER_FILES}
    return sorted({str(Path(p).resolve()) for p in paths if Path(p).exists()})


def _is_within(path: str, folder: Path) -> bool:
    return Path(path) == folder or Path(path).is_relative_to(folder)


def bwrap_argv(place: KernelPlace, program: str) -> list[str]:
    """The command that starts an IPython kernel inside the sandbox (``{connection_file}`` filled in by Jupyter)."""
    passwd = place.root / "passwd"
    passwd.write_text("student:x:1000:1000:student:/home/student:/bin/sh\n")
    (place.root / "group").write_text("student:x:1000:\n")
    argv = [program, "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp"]
    for path in SYSTEM_PATHS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    # The repository is hidden behind an empty folder (even where it lies inside a bound one, e.g. under /usr),
    # and only the environment, utils/, data/ and classroom's test helper inside it are bound back: never chapters/,
    # student/ or the rest of classroom/.
    paths = _read_only_paths()
    inside = [p for p in paths if _is_within(p, REPO_ROOT)]
    for path in paths:
        if path not in inside:
            argv += ["--ro-bind", path, path]
    argv += ["--size", str(1 << 20), "--tmpfs", str(REPO_ROOT)]
    for path in inside:
        argv += ["--ro-bind", path, path]
    argv += ["--ro-bind", str(passwd), "/etc/passwd", "--ro-bind", str(place.root / "group"), "/etc/group",
             "--dev", "/dev", "--size", str(TMPFS_BYTES), "--tmpfs", "/dev/shm", "--proc", "/proc",
             "--bind", str(place.home), SANDBOX_HOME, "--bind", str(place.sockets), str(place.sockets),
             "--chdir", SANDBOX_HOME,
             "--unshare-all", "--unshare-user", "--uid", "1000", "--gid", "1000", "--hostname", "grading",
             "--disable-userns", "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--clearenv"]
    for name, value in kernel_environment(SANDBOX_HOME).items():
        argv += ["--setenv", name, value]
    return argv + ["--", sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


@functools.cache
def sandbox_works() -> bool:
    """Whether bubblewrap runs here *with the grader's own sandbox* and Python can import the kernel and the course
    inside it (an old bwrap, a symlinked environment or libraries outside the bound folders fail this, once, here,
    rather than every submission's kernel later)."""
    program = bwrap_path()
    if program is None:
        return False
    place = new_place()
    try:
        argv = bwrap_argv(place, program)
        probe = [*argv[: argv.index("--") + 1], sys.executable, "-c", "import ipykernel, torch, utils"]
        return subprocess.run(probe, capture_output=True, timeout=120, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(place.root, ignore_errors=True)


def _kernel_manager(place: KernelPlace, argv: list[str]) -> AsyncKernelManager:
    # Interrupts go as messages: a signal to bwrap would not reach the kernel inside (another session).
    spec = {"argv": argv, "display_name": "Python 3 (grading)", "language": "python", "interrupt_mode": "message"}
    (place.specs / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec))
    return AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(place.specs)]),
                              transport="ipc", ip=str(place.sockets / "kernel"),
                              connection_file=str(place.sockets / "connection.json"))


def sandboxed_kernel(place: KernelPlace) -> AsyncKernelManager:
    """A kernel manager whose kernel starts inside the bubblewrap sandbox (see the module's docstring)."""
    program = bwrap_path()
    if program is None:
        raise RuntimeError("bubblewrap (bwrap) is not installed or cannot create a sandbox on this machine")
    return _kernel_manager(place, bwrap_argv(place, program))


def unsandboxed_kernel(place: KernelPlace) -> AsyncKernelManager:
    """A plain kernel process, started in ``place.home`` with the same clean environment (no isolation)."""
    return _kernel_manager(place, [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"])
