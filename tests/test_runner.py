"""classroom.runner: the one notebook runner of the autograder and the benchmark."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from classroom.runner import run_notebook


def notebook(*sources: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(s) for s in sources],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def test_the_kernel_gets_its_environment_and_folder_without_changing_the_callers(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_RUNS_DIR", raising=False)
    nb = notebook("import os, pathlib\nprint(os.environ['COURSE_RUNS_DIR'], pathlib.Path.cwd())",
                  "print(os.environ.get('PATH') is not None)")
    run = run_notebook(nb, cwd=tmp_path, timeout=60, env={"COURSE_RUNS_DIR": "/runs/here"})
    assert run.stopped is None and run.seconds > 0
    assert nb.cells[0].outputs[0].text.split() == ["/runs/here", str(tmp_path)]
    assert nb.cells[1].outputs[0].text.strip() == "True", "the rest of the caller's environment is inherited"
    assert "COURSE_RUNS_DIR" not in os.environ


def test_without_allow_errors_the_first_error_ends_the_run_and_is_reported(tmp_path):
    nb = notebook("x = 1", "raise ValueError('broken on purpose')", "y = 2")
    run = run_notebook(nb, cwd=tmp_path, timeout=60)
    assert run.stopped == "ValueError: broken on purpose"
    assert nb.cells[2].get("execution_count") is None, "nothing runs after the failing cell"


def test_with_allow_errors_every_cell_runs_and_a_cell_over_its_time_is_interrupted(tmp_path):
    nb = notebook("raise ValueError('first')", "import time\ntime.sleep(30)", "print('last')")
    run = run_notebook(nb, cwd=tmp_path, timeout=3, allow_errors=True)
    assert run.stopped is None and run.seconds < 25
    assert nb.cells[0].outputs[0].ename == "ValueError"
    assert nb.cells[1].outputs[-1].ename == "KeyboardInterrupt"
    assert nb.cells[2].outputs[0].text == "last\n"


def test_a_dead_kernel_is_reported_not_raised(tmp_path):
    run = run_notebook(notebook("import os\nos._exit(1)", "print('never')"), cwd=tmp_path, timeout=30,
                       allow_errors=True)
    assert run.stopped.startswith("execution stopped early: DeadKernelError")


@pytest.mark.parametrize("timeout", [0, -1, float("nan")])
def test_a_timeout_must_be_positive(tmp_path, timeout):
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        run_notebook(notebook("x = 1"), cwd=tmp_path, timeout=timeout)


def test_a_run_past_its_deadline_is_killed_with_everything_it_started(tmp_path):
    nb = notebook("import subprocess\nchild = subprocess.Popen(['sleep', '1019'])\nprint(child.pid)",
                  "import time\ntime.sleep(60)", "print('never')")
    run = run_notebook(nb, cwd=tmp_path, timeout=120, allow_errors=True, deadline=4)
    assert run.seconds < 30 and "ran past its 4 s limit" in run.stopped
    assert run.replies == {0: "ok"}, "only the first cell finished"
    child = int(nb.cells[0].outputs[0].text)
    stat = Path(f"/proc/{child}/stat")
    assert not stat.exists() or stat.read_text().split()[2] == "Z", "the cell's child process was killed too"


def test_a_cell_that_catches_its_interrupt_is_killed_after_the_grace_period(tmp_path):
    nb = notebook("import time\nwhile True:\n    try:\n        time.sleep(0.1)\n    except KeyboardInterrupt:\n"
                  "        pass", "print('never')")
    run = run_notebook(nb, cwd=tmp_path, timeout=2, allow_errors=True, grace=2)
    assert run.seconds < 30 and "after the interrupt) and was killed" in run.stopped
    assert nb.cells[1].get("execution_count") is None


def test_output_past_the_cap_is_dropped_and_said_so_and_later_cells_still_run(tmp_path):
    nb = notebook("for _ in range(50):\n    print('x' * 100_000)", "print('after')")
    run = run_notebook(nb, cwd=tmp_path, timeout=60, allow_errors=True, max_output_bytes=300_000)
    assert run.stopped is None
    kept = sum(len(o.get("text", "")) for o in nb.cells[0].outputs)
    assert kept < 600_000, "the 5 MB of output were not capped"
    assert "output was dropped: over 300000 bytes" in nb.cells[0].outputs[-1].text
    assert nb.cells[1].outputs[0].text == "after\n"
