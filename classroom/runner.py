"""Running a notebook top to bottom in a fresh kernel: the one runner of the autograder and of the benchmark.

The kernel gets its own environment (this process's, plus the variables passed in ``env``) and its own working
folder; the calling process's ``os.environ`` is never changed, so two runs (or a run and the caller) cannot leak
settings into each other.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat


@dataclass
class Run:
    """How a notebook run ended."""

    seconds: float  # wall time, kernel start-up included
    stopped: str | None  # why execution stopped early, in one line (an error, a dead kernel, a timeout); else None


def run_notebook(
    nb: nbformat.NotebookNode,
    *,
    cwd: str | os.PathLike[str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    allow_errors: bool = False,
    kernel_name: str = "python3",
) -> Run:
    """Execute every cell of ``nb`` in place (outputs and timings land in its cells) in a fresh kernel started in
    ``cwd`` with ``os.environ`` plus ``env``.

    ``timeout`` is in seconds per cell. With ``allow_errors`` a failing cell does not stop the run and a cell over
    the limit is interrupted (the autograder); without it the first error or timeout ends the run (the benchmark).
    Never raises for what the notebook does: a dead kernel, an error or a timeout comes back as ``Run.stopped``.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=allow_errors,
                            interrupt_on_timeout=allow_errors, resources={"metadata": {"path": str(cwd)}})
    start = time.perf_counter()
    stopped = None
    try:
        client.execute(env={**os.environ, **(env or {})}, cwd=str(cwd))
    except CellExecutionError as err:  # only without allow_errors: the first failing cell
        message = (str(err.evalue).strip().splitlines() or [""])[0]
        stopped = f"{err.ename}: {message}"[:200] if message else err.ename
    # DeadKernelError, a timeout that the interrupt could not end, a broken kernel spec: report, never crash.
    except Exception as err:  # noqa: BLE001
        first_line = (str(err).strip().splitlines() or [""])[0][:200]
        stopped = f"execution stopped early: {type(err).__name__}: {first_line}"
    return Run(time.perf_counter() - start, stopped)
