"""Running a notebook top to bottom in a fresh kernel: the one runner of the autograder and of the benchmark.

The kernel gets its own environment (this process's, plus the variables passed in ``env``) and its own working
folder; the calling process's ``os.environ`` is never changed, so two runs (or a run and the caller) cannot leak
settings into each other.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import nbformat


@dataclass
class Run:
    """How a notebook run ended."""

    seconds: float  # wall time, kernel start-up included
    stopped: str | None  # why execution stopped early, in one line (an error, a dead kernel, a timeout); else None
    # The status of the kernel's execute_reply ("ok", "error", "aborted") of each executed cell, by cell index, as
    # received by this process.
    replies: dict[int, str] = field(default_factory=dict)


class _Watchdog(threading.Thread):
    """Kills the kernel's process group when a cell runs ``grace`` seconds past its interrupt, or the whole run
    passes ``deadline`` seconds: an interrupt is only a request, and a cell may catch KeyboardInterrupt."""

    def __init__(self, kill, cell_limit: float | None, grace: float, deadline: float | None) -> None:
        super().__init__(daemon=True)
        self.kill, self.cell_limit, self.grace, self.deadline = kill, cell_limit, grace, deadline
        self.start_time = time.monotonic()
        self.cell_started: tuple[int, float] | None = None
        self.reason: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            now, cell = time.monotonic(), self.cell_started
            if self.deadline is not None and now - self.start_time > self.deadline:
                self.reason = f"the notebook ran past its {self.deadline:g} s limit and was stopped"
            elif cell is not None and self.cell_limit is not None and now - cell[1] > self.cell_limit:
                self.reason = (f"a cell did not stop within {self.cell_limit:g} s (its limit and {self.grace:g} s "
                               "after the interrupt) and was killed with the kernel")
            if self.reason:
                self.kill()
                return


def _capped_client(max_output_bytes: int):
    """A NotebookClient that keeps at most ``max_output_bytes`` of output per cell (errors always, shortened): a
    kernel printing gigabytes must not fill the grader's memory."""
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        def output(self, outs, msg, display_id, cell_index):
            used = self.output_bytes.get(cell_index, 0)
            size = len(json.dumps(msg.get("content", {}), default=str))
            if msg.get("msg_type") == "error":
                content = msg["content"]
                content["evalue"] = str(content.get("evalue", ""))[:2000]
                content["traceback"] = [str(line)[:2000] for line in content.get("traceback", [])[-20:]]
            elif msg.get("msg_type") in ("stream", "display_data", "execute_result", "update_display_data"):
                self.output_bytes[cell_index] = used + size
                if used + size > max_output_bytes:
                    if used <= max_output_bytes:
                        outs.append(nbformat.v4.new_output("stream", name="stderr", text=(
                            f"[the rest of this cell's output was dropped: over {max_output_bytes} bytes]\n")))
                    return None
            return super().output(outs, msg, display_id, cell_index)

    CappedClient.output_bytes = {}
    return CappedClient


def run_notebook(
    nb: nbformat.NotebookNode,
    *,
    cwd: str | os.PathLike[str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    allow_errors: bool = False,
    kernel_name: str = "python3",
    kernel_manager=None,
    deadline: float | None = None,
    grace: float = 10.0,
    max_output_bytes: int | None = None,
) -> Run:
    """Execute every cell of ``nb`` in place (outputs and timings land in its cells) in a fresh kernel started in
    ``cwd`` with ``os.environ`` plus ``env``.

    ``timeout`` is in seconds per cell. With ``allow_errors`` a failing cell does not stop the run and a cell over
    the limit is interrupted (the autograder); without it the first error or timeout ends the run (the benchmark).
    Never raises for what the notebook does: a dead kernel, an error or a timeout comes back as ``Run.stopped``.

    The autograder passes its own ``kernel_manager`` (a sandboxed kernel, see classroom/sandbox.py) and ``env`` as
    the kernel's whole environment, and sets hard limits: a cell still running ``grace`` seconds after its
    interrupt, or a run longer than ``deadline`` seconds in all, gets the kernel's whole process group killed. The
    kernel's processes are always killed when the run ends. ``max_output_bytes`` caps the output kept per cell.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
    if deadline is not None and not (deadline > 0 and math.isfinite(deadline)):
        raise ValueError(f"deadline must be a positive number of seconds or None, got {deadline}")
    client_class = NotebookClient if max_output_bytes is None else _capped_client(max_output_bytes)
    client = client_class(nb, km=kernel_manager, timeout=math.ceil(timeout), kernel_name=kernel_name,
                            allow_errors=allow_errors, interrupt_on_timeout=allow_errors,
                            resources={"metadata": {"path": str(cwd)}})
    watchdog = _Watchdog(lambda: _kill_kernel(client), timeout + grace if allow_errors else None, grace,
                         deadline)
    replies: dict[int, str] = {}

    def started(cell, cell_index: int) -> None:
        watchdog.cell_started = (cell_index, time.monotonic())

    def finished(cell, cell_index: int, execute_reply) -> None:
        watchdog.cell_started = None
        if isinstance(execute_reply, dict):
            replies[cell_index] = str(execute_reply.get("content", {}).get("status"))

    client.on_cell_execute, client.on_cell_executed = started, finished
    kernel_env = dict(env or {}) if kernel_manager is not None else {**os.environ, **(env or {})}
    start = time.perf_counter()
    stopped = None
    watchdog.start()
    try:
        client.execute(env=kernel_env, cwd=str(cwd))
    except CellExecutionError as err:  # only without allow_errors: the first failing cell
        message = (str(err.evalue).strip().splitlines() or [""])[0]
        stopped = f"{err.ename}: {message}"[:200] if message else err.ename
    # DeadKernelError, a timeout that the interrupt could not end, a broken kernel spec: report, never crash.
    except Exception as err:  # noqa: BLE001
        first_line = (str(err).strip().splitlines() or [""])[0][:200]
        stopped = f"execution stopped early: {type(err).__name__}: {first_line}"
    finally:
        watchdog.done.set()
        _kill_kernel(client)
    if watchdog.reason:
        stopped = f"execution stopped early: {watchdog.reason}"
    return Run(time.perf_counter() - start, stopped, replies)


def _kill_kernel(client) -> None:
    """SIGKILL the kernel's process group (a sandbox takes everything inside it along) and reap it."""
    process = getattr(getattr(client.km, "provisioner", None), "process", None)
    if process is None:
        return
    if not hasattr(os, "killpg"):  # Windows: no process groups; the kernel process itself
        with contextlib.suppress(Exception):
            process.kill()
        return
    try:
        group = os.getpgid(process.pid)
        if group == os.getpgrp():  # never the caller's own group (a kernel started without its own session)
            process.kill()
        else:
            os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    with contextlib.suppress(Exception):  # already reaped by the kernel manager
        process.wait(timeout=10)
