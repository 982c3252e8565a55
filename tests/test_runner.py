"""classroom.runner: the one notebook runner of the autograder and the benchmark."""

from __future__ import annotations

import os

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
