"""classroom.sandbox, classroom.evidence and classroom.report: the grader's sandbox, its proof that a test passed,
and report names. (The grader against hostile submissions, end to end: tests/test_grade_hostile.py.)"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from classroom import evidence
from classroom.report import ExerciseResult, Report, report_stems, write_report
from classroom.sandbox import SANDBOX_HOME, bwrap_argv, kernel_environment, new_place
from utils.paths import CHAPTERS_DIR, REPO_ROOT


def test_the_kernels_environment_holds_nothing_of_the_graders(monkeypatch):
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "do-not-leak")
    monkeypatch.setenv("COURSE_DATA_MIRROR", "/instructors/mirror")
    env = kernel_environment("/home/student")
    assert "GRADER_SECRET_TOKEN" not in env and "COURSE_DATA_MIRROR" not in env
    assert env["HOME"] == "/home/student" and env["COURSE_RUNS_DIR"] == "/home/student/runs"
    assert env["COURSE_DEVICE"] == "cpu"


def test_the_sandbox_hides_the_repository_but_binds_utils_and_data_back_read_only():
    place = new_place()
    try:
        argv = bwrap_argv(place, "/usr/bin/bwrap")
    finally:
        shutil.rmtree(place.root)
    pairs = list(itertools.pairwise(argv))
    bound = {b for a, b in pairs if a == "--ro-bind"}
    assert ("--tmpfs", str(REPO_ROOT)) in pairs, "the repository is hidden behind an empty folder"
    mask = argv.index(str(REPO_ROOT))
    assert argv.index(str(REPO_ROOT / "utils")) > mask and str(REPO_ROOT / "utils") in bound
    assert str(REPO_ROOT / "data") in bound
    for hidden in (REPO_ROOT, CHAPTERS_DIR, REPO_ROOT / "classroom", REPO_ROOT / "student"):
        assert not any(hidden == Path(b) or hidden.is_relative_to(b) for b in bound), f"{hidden} would be visible"
    helper = {str(REPO_ROOT / "classroom" / name) for name in ("__init__.py", "refuse.py")}
    assert helper <= bound and all(argv.index(path) > mask for path in helper), "test cells import classroom.refuse"
    assert {b for b in bound if Path(b).is_relative_to(REPO_ROOT / "classroom")} == helper, "nothing else of classroom"
    for flag in ("--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv
    assert ("--bind", str(place.home)) in pairs and argv[argv.index(str(place.home)) + 1] == SANDBOX_HOME
    assert argv[-3:] == ["ipykernel_launcher", "-f", "{connection_file}"]


def code_cell(*outputs: dict) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def stdout(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def error(name: str, value: str) -> dict:
    return {"output_type": "error", "ename": name, "evalue": value, "traceback": []}


def test_a_test_passes_only_with_status_ok_its_token_and_no_error():
    token = evidence.new_token()
    assert evidence.with_token("assert True\n\n", token) == f"assert True\nprint({token!r})"
    passed = code_cell(stdout("Exercise 1: all tests passed\n" + token[:10]), stdout(token[10:] + "\n"))
    assert evidence.test_ran_to_its_end(passed, "ok", token), "a token split across stream messages still counts"
    assert not evidence.test_ran_to_its_end(passed, "error", token)
    assert not evidence.test_ran_to_its_end(passed, None, token)
    assert not evidence.test_ran_to_its_end(code_cell(stdout("all tests passed\n")), "ok", token)
    assert not evidence.test_ran_to_its_end(code_cell(stdout(token + "\n"), error("AssertionError", "")), "ok", token)
    assert not evidence.test_ran_to_its_end(passed, "ok", evidence.new_token()), "another run's token is no proof"


def test_a_canary_must_fail_with_its_own_message_and_never_print_its_token():
    cell, canary = evidence.canary_cell()
    assert canary.message in cell.source and canary.token in cell.source
    namespace: dict = {}
    with pytest.raises(AssertionError, match=canary.message):
        exec(cell.source, namespace)  # noqa: S102  the canary's assertion is false, whatever the random numbers
    assert evidence.canary_verdict(code_cell(error("AssertionError", canary.message)), "error", canary) is True
    assert evidence.canary_verdict(code_cell(), None, canary) is None, "a canary that never ran proves nothing"
    assert evidence.canary_verdict(code_cell(), "ok", canary) is False
    assert evidence.canary_verdict(code_cell(), "error", canary) is False, "an error hidden from the outputs"
    assert evidence.canary_verdict(code_cell(error("AssertionError", "other")), "error", canary) is False
    hidden = code_cell(error("AssertionError", canary.message), stdout(canary.token + "\n"))
    assert evidence.canary_verdict(hidden, "error", canary) is False


def test_report_names_never_collide_in_one_folder(tmp_path):
    a, b, c = tmp_path / "a" / "alice.ipynb", tmp_path / "b" / "alice.ipynb", tmp_path / "b" / "bob.ipynb"
    stems = report_stems([a, b, c], tmp_path / "grades")
    assert len(set(stems.values())) == 3
    assert stems[c] == tmp_path / "grades" / "bob"
    assert stems[a].name.endswith("a__alice") and stems[b].name.endswith("b__alice")
    assert report_stems([a, b], None) == {a: a.parent / "alice", b: b.parent / "alice"}


def test_report_names_that_differ_only_in_case_get_a_counter(tmp_path):
    x, y = tmp_path / "x" / "Alice.ipynb", tmp_path / "y" / "alice.ipynb"
    names = {p.name.lower() for p in report_stems([x, y], tmp_path / "grades").values()}
    assert len(names) == 2


def test_write_report_writes_json_and_a_table(tmp_path):
    report = Report("sub/alice.ipynb", "chapters/01_feedforward.ipynb",
                    [ExerciseResult(1, "Exercise 1 · X", "x_tests", 2, 2, "passed")], review="needs a look")
    json_path, text_path = write_report(report, tmp_path / "alice")
    record = json.loads(json_path.read_text())
    assert (record["score"], record["max_score"], record["review"]) == (2, 2, "needs a look")
    assert "NEEDS REVIEW: needs a look" in text_path.read_text()
    assert sorted(os.listdir(tmp_path)) == ["alice.grade.json", "alice.grade.txt"], "no temporary files left"
