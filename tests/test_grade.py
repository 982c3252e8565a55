"""The autograder (python -m classroom.grade): scores, reports, and submissions that raise, hang, die or lose cells.

The fast tests grade a two-exercise notebook built here; the tests marked `grading` execute chapter 01 end to end
three times (about 2.5 minutes on a 2-core CPU): its student version scores zero and fails only inside its exercise
cells, with its solutions it scores full marks, and with one exercise solved exactly that exercise. The other
chapters are not re-run here: `tests/test_classroom.py` proves statically that their student versions differ only in
exercise cells, which come last and depend only on the chapter's cells and their own solution, so nbval's run of each
chapter already proves everything a student version would run before its exercises.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from tiny_chapter import SOLVED_DOUBLE, source_notebook

from classroom.cells import find_exercises
from classroom.grade import GradingError, find_source, grade, main
from classroom.release import STUDENT_DIR, student_version
from utils.paths import CHAPTERS_DIR


@pytest.fixture
def tiny(tmp_path: Path) -> dict:
    """Paths of the tiny chapter (with solutions) and of a fresh student version of it."""
    source = source_notebook()
    source_path = tmp_path / "source.ipynb"
    nbformat.write(source, source_path)
    student_path = tmp_path / "student.ipynb"
    nbformat.write(student_version(source, "source.ipynb"), student_path)
    return {"source": source_path, "student": student_path, "dir": tmp_path}


def edited(path: Path, change) -> Path:
    """A copy of the notebook at ``path`` after ``change(notebook)``."""
    nb = nbformat.read(path, as_version=4)
    change(nb)
    out = path.with_name(f"edited-{path.name}")
    nbformat.write(nb, out)
    return out


def cell_with(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def statuses(report) -> list[tuple[str, float]]:
    return [(e.status, e.points) for e in report.exercises]


def test_the_solution_scores_full_marks(tiny):
    report = grade(tiny["source"], tiny["source"], timeout=60)
    assert statuses(report) == [("passed", 2), ("passed", 3)]
    assert (report.score, report.max_score) == (5, 5) and report.problems == []


def test_a_fresh_student_version_scores_zero_and_says_why(tiny):
    report = grade(tiny["student"], tiny["source"], timeout=60)
    assert statuses(report) == [("failed", 0), ("failed", 0)]
    assert all("NotImplementedError" in e.detail for e in report.exercises)
    assert report.score == 0 and report.problems == [], "cells outside the exercises still run"


def test_one_solved_exercise_scores_exactly_its_points(tiny):
    path = edited(tiny["student"], lambda nb: setattr(cell_with(nb, "square_solution"), "source",
                                                       "def square(v):\n    return v ** 2"))
    report = grade(path, tiny["source"], timeout=60)
    assert statuses(report) == [("failed", 0), ("passed", 3)] and report.score == 3


def test_hidden_tests_catch_an_answer_fitted_to_the_visible_ones(tiny):
    path = edited(tiny["student"], lambda nb: setattr(cell_with(nb, "double_solution"), "source",
                                                       "def double(v):\n    return 4"))
    report = grade(path, tiny["source"], timeout=60)
    assert statuses(report)[0] == ("failed", 0) and "AssertionError" in report.exercises[0].detail


def test_an_edited_test_cell_is_replaced_by_the_original(tiny):
    def cheat(nb):
        cell_with(nb, "double_solution").source = "def double(v):\n    return 0"
        cell_with(nb, "double_tests").source = "pass"

    report = grade(edited(tiny["student"], cheat), tiny["source"], timeout=60)
    assert statuses(report)[0] == ("failed", 0)
    assert any("test cell was edited" in p for p in report.problems)


def test_a_test_cell_turned_into_markdown_is_run_as_code(tiny):
    def to_markdown(nb):
        cell = cell_with(nb, "square_tests")
        nb.cells[nb.cells.index(cell)] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)

    report = grade(edited(tiny["source"], to_markdown), tiny["source"], timeout=60)
    assert statuses(report) == [("passed", 2), ("passed", 3)]
    assert any("Exercise 2 · Squaring: the test cell was edited" in p for p in report.problems)


def test_a_deleted_test_cell_is_restored_and_still_graded(tiny):
    def delete_tests(nb):
        nb.cells.remove(cell_with(nb, "double_tests"))
        cell_with(nb, "double_solution").source = SOLVED_DOUBLE

    report = grade(edited(tiny["student"], delete_tests), tiny["source"], timeout=60)
    assert statuses(report) == [("passed", 2), ("failed", 0)]
    assert any("test cell was deleted" in p for p in report.problems)


def test_a_deleted_solution_cell_scores_zero_with_a_reason(tiny):
    def delete_solution_and_setup(nb):
        nb.cells.remove(cell_with(nb, "double_solution"))
        del nb.cells[1]  # the setup cell: the last cell then fails on `offset`

    report = grade(edited(tiny["source"], delete_solution_and_setup), tiny["source"], timeout=60)
    assert statuses(report) == [("solution cell missing", 0), ("passed", 3)]
    assert any("1 code cell(s) of the chapter are missing" in p for p in report.problems)
    assert any("not an exercise" in p and "NameError" in p for p in report.problems)


def test_a_hanging_cell_is_stopped_and_the_rest_still_runs(tiny):
    hangs = "import time\n\ndef double(v):\n    time.sleep(60)\n    return 2 * v"
    path = edited(tiny["source"], lambda nb: setattr(cell_with(nb, "double_solution"), "source", hangs))
    report = grade(path, tiny["source"], timeout=3)
    assert statuses(report) == [("timed out", 0), ("passed", 3)]
    assert "3 s limit" in report.exercises[0].detail
    assert report.seconds < 45


def test_a_dead_kernel_is_reported_and_later_exercises_are_not_run(tiny):
    path = edited(tiny["source"], lambda nb: setattr(cell_with(nb, "double_solution"), "source",
                                                      "import os\nos._exit(1)"))
    report = grade(path, tiny["source"], timeout=30)
    assert [e.points for e in report.exercises] == [0, 0]
    assert report.exercises[1].status == "not run"
    assert any("execution stopped early" in p for p in report.problems)


def test_an_unreadable_notebook_is_reported_not_crashed_on(tiny):
    broken = tiny["dir"] / "broken.ipynb"
    broken.write_text("{ this is not json")
    report = grade(broken, tiny["source"], timeout=30)
    assert report.score == 0 and report.max_score == 5
    assert all(e.status == "not run" for e in report.exercises)
    assert any("could not read the notebook" in p for p in report.problems)


def test_mangled_metadata_does_not_crash_the_grader(tiny):
    def mangle(nb):
        nb.metadata["course"] = "not a dict"
        cell_with(nb, "double_solution").metadata["nbgrader"] = "garbage"

    report = grade(edited(tiny["source"], mangle), tiny["source"], timeout=60)
    assert statuses(report) == [("solution cell missing", 0), ("passed", 3)]


def test_a_duplicated_test_cell_neither_flags_nor_costs_an_honest_student(tiny):
    def copied(cell):  # Jupyter's copy and paste: same source and metadata (grade id included), a new cell id
        return nbformat.v4.new_code_cell(cell.source, metadata=json.loads(json.dumps(cell.metadata)))

    def duplicate(nb):
        test = cell_with(nb, "double_tests")
        nb.cells.insert(nb.cells.index(test), copied(test))
        nb.cells.append(copied(cell_with(nb, "square_tests")))

    report = grade(edited(tiny["source"], duplicate), tiny["source"], timeout=60)
    assert statuses(report) == [("passed", 2), ("passed", 3)] and report.review is None, report.table()


def test_a_grade_id_that_is_not_a_string_is_no_grade_id(tiny):
    def mangle(nb):
        cell_with(nb, "double_tests").metadata["nbgrader"]["grade_id"] = ["double_tests"]

    report = grade(edited(tiny["source"], mangle), tiny["source"], timeout=60)
    assert statuses(report) == [("passed", 2), ("passed", 3)]
    assert any("test cell was deleted" in p for p in report.problems)


def test_a_chapter_copied_under_another_name_still_accepts_its_student_versions(tmp_path):
    from classroom.grade import claim_mismatch

    copy = tmp_path / "hw1.ipynb"
    copy.write_text((CHAPTERS_DIR / "01_feedforward.ipynb").read_text(encoding="utf-8"))
    student = nbformat.read(STUDENT_DIR / "01_feedforward.ipynb", as_version=4)
    assert claim_mismatch(tmp_path / "alice.ipynb", student, copy) is None
    assert "refused" in claim_mismatch(tmp_path / "alice.ipynb", student, CHAPTERS_DIR / "02_cnn.ipynb")
    assert "file name says chapter 02_cnn" in claim_mismatch(tmp_path / "02_cnn-alice.ipynb", nbformat.v4.new_notebook(),
                                                              copy)


def test_the_chapter_comes_from_the_file_name_never_from_the_notebook(tmp_path):
    assert find_source(tmp_path / "02_cnn_bob.ipynb") == CHAPTERS_DIR / "02_cnn.ipynb"
    assert find_source(tmp_path / "01_feedforward-alice.ipynb") == CHAPTERS_DIR / "01_feedforward.ipynb"
    renamed = tmp_path / "alice-submission.ipynb"
    renamed.write_text((STUDENT_DIR / "01_feedforward.ipynb").read_text(encoding="utf-8"))
    with pytest.raises(GradingError, match="pass --source"):
        find_source(renamed)  # its metadata names chapter 01, but a submission does not choose its chapter
    with pytest.raises(GradingError, match="pass --source"):
        find_source(tmp_path / "01_feedforwardish.ipynb")


def test_main_prints_and_writes_json_and_a_table(tiny, tmp_path, capsys):
    out = tmp_path / "grades"
    assert main([str(tiny["student"]), "--source", str(tiny["source"]), "--out", str(out), "--timeout", "60"]) == 0
    printed = capsys.readouterr().out
    assert "Exercise 1 · Doubling" in printed and "total" in printed and "0 / 5" in printed
    record = json.loads((out / "student.grade.json").read_text())
    assert record["score"] == 0 and record["max_score"] == 5 and record["review"] is None
    assert [e["grade_id"] for e in record["exercises"]] == ["double_tests", "square_tests"]
    assert "0 / 5" in (out / "student.grade.txt").read_text()


def test_main_refuses_what_it_cannot_grade_before_grading_anything(tiny, tmp_path, capsys):
    homework = tmp_path / "homework.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), homework)
    with pytest.raises(SystemExit) as stop:
        main([str(homework)])
    assert stop.value.code == 2 and "cannot tell which chapter" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.grade.*"))


# --- chapter 01, end to end (slow) -------------------------------------------------------------------------


@pytest.mark.grading
def test_chapter_01_student_version_scores_zero_and_fails_only_in_exercise_cells():
    report = grade(STUDENT_DIR / "01_feedforward.ipynb")
    assert report.source == "chapters/01_feedforward.ipynb"
    assert report.score == 0 and report.max_score == 10
    assert all(e.status == "failed" and "NotImplementedError" in e.detail for e in report.exercises), report.table()
    assert report.problems == [], f"cells outside the exercises must run:\n{report.table()}"


@pytest.mark.grading
def test_chapter_01_with_its_solutions_scores_full_marks():
    report = grade(CHAPTERS_DIR / "01_feedforward.ipynb")
    assert report.score == report.max_score == 10, report.table()
    assert report.problems == []


@pytest.mark.grading
def test_chapter_01_with_only_exercise_2_solved_scores_exactly_exercise_2(tmp_path):
    chapter = nbformat.read(CHAPTERS_DIR / "01_feedforward.ipynb", as_version=4)
    second = find_exercises(chapter.cells)[1]
    solution = cell_with(chapter, second.solution_id).source
    answer = "\n".join(line for line in solution.splitlines() if "### " not in line)  # as a student would write it
    student = nbformat.read(STUDENT_DIR / "01_feedforward.ipynb", as_version=4)
    cell_with(student, second.solution_id).source = answer
    path = tmp_path / "01_feedforward-one-solved.ipynb"
    nbformat.write(student, path)
    report = grade(path)
    assert [e.points for e in report.exercises] == [0, second.points, 0], report.table()
    assert report.score == second.points
    assert report.problems == [], f"cells outside the exercises must run:\n{report.table()}"
    assert [e.status for e in report.exercises] == ["failed", "passed", "failed"]
    assert all("NotImplementedError" in report.exercises[i].detail for i in (0, 2))
