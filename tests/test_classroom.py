"""Exercise cells (nbgrader's conventions) and the student versions of the chapters (python -m classroom.release)."""

from __future__ import annotations

import re
from collections import Counter

import nbformat
import pytest

from classroom.cells import (
    HIDDEN_TESTS,
    SOLUTION,
    MarkerError,
    autograded_metadata,
    clear_solution,
    find_exercises,
    is_solution_cell,
    is_test_cell,
    remove_hidden_tests,
    replace_regions,
    solution_metadata,
)
from classroom.dependencies import defined_names, exercise_dependency_problems, read_names
from classroom.release import STUDENT_DIR, main, render, student_version
from utils.paths import chapter_paths

CHAPTERS = chapter_paths()


def code(source: str, nbgrader: dict | None = None) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": nbgrader} if nbgrader else {})


# --- cells ---------------------------------------------------------------------------------------------------


def test_clear_solution_keeps_the_signature_and_indents_the_stub():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\n\nprint(f(1))"
    assert clear_solution(source) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\n\nprint(f(1))"


def test_clear_solution_replaces_every_region():
    source = "### BEGIN SOLUTION\na = 1\n### END SOLUTION\nb = 2\n### BEGIN SOLUTION\nc = 3\n### END SOLUTION"
    cleared = clear_solution(source)
    assert cleared.count("raise NotImplementedError()") == 2 and "b = 2" in cleared
    assert "a = 1" not in cleared and "c = 3" not in cleared


def test_remove_hidden_tests_drops_the_region_and_its_markers():
    source = "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(-1) == -2\n### END HIDDEN TESTS\nprint('ok')"
    assert remove_hidden_tests(source) == "assert f(1) == 2\nprint('ok')"


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\nx = 1", "without"),
        ("x = 1\n### END SOLUTION", "without"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
    ],
)
def test_unbalanced_markers_are_refused(source, message):
    with pytest.raises(MarkerError, match=message):
        replace_regions(source, SOLUTION, ("stub",))


def test_a_solution_cell_without_markers_is_refused():
    with pytest.raises(MarkerError, match="BEGIN SOLUTION"):
        clear_solution("x = 1")


@pytest.mark.parametrize("misspelt", ["### BEGIN HIDDEN TEST", "### begin hidden tests", "## END HIDDEN TESTS",
                                      "###BEGIN HIDDEN TESTS ", "### BEGIN SOLUTION"])
def test_a_misspelt_or_foreign_marker_in_a_test_cell_is_refused_never_shipped(misspelt):
    source = f"assert f(1) == 2\n{misspelt}\nassert f(2) == 4  # hidden\n### END HIDDEN TESTS"
    with pytest.raises(MarkerError, match="is not a marker this cell may hold"):
        remove_hidden_tests(source)


def test_a_misspelt_solution_marker_is_refused():
    with pytest.raises(MarkerError, match="BEGIN SOLUTIONS"):
        clear_solution("def f():\n    ### BEGIN SOLUTIONS\n    return 1\n    ### END SOLUTION")


def test_comments_that_merely_mention_begin_or_end_are_not_markers():
    assert remove_hidden_tests("# end of the visible tests\nx = 1") == "# end of the visible tests\nx = 1"


def test_find_exercises_reads_titles_ids_and_points():
    cells = [
        nbformat.v4.new_markdown_cell("### Exercise 1 · Doubling (2 points)"),
        code("### BEGIN SOLUTION\n### END SOLUTION", solution_metadata("a_solution")),
        code("assert True", autograded_metadata("a_tests", 2)),
        nbformat.v4.new_markdown_cell("### Exercise 2 · Squares"),
        code("### BEGIN SOLUTION\n### END SOLUTION", solution_metadata("b_solution")),
        code("assert True", autograded_metadata("b_tests", 3)),
    ]
    exercises = find_exercises(cells)
    assert [(e.number, e.title, e.solution_id, e.test_id, e.points) for e in exercises] == [
        (1, "Exercise 1 · Doubling", "a_solution", "a_tests", 2),
        (2, "Exercise 2 · Squares", "b_solution", "b_tests", 3),
    ]


@pytest.mark.parametrize(
    "cells, message",
    [
        ([code("assert True", autograded_metadata("t", 1))], "no solution cell before it"),
        ([code("", solution_metadata("s"))], "has no test cell after it"),
        ([code("", solution_metadata("s")), code("", solution_metadata("s2"))], "without a test cell"),
        ([code("", solution_metadata("s")), code("", autograded_metadata("s", 1))], "used twice"),
        ([code("", solution_metadata("s")), code("", autograded_metadata("t", 0))], "positive points"),
    ],
)
def test_find_exercises_refuses_a_broken_structure(cells, message):
    with pytest.raises(ValueError, match=message):
        find_exercises(cells)


def test_nbgrader_metadata_is_complete():
    solution, test = solution_metadata("x_solution"), autograded_metadata("x_tests", 4)
    keys = {"grade", "grade_id", "locked", "schema_version", "solution", "task"}
    assert keys <= solution.keys() and keys | {"points"} <= test.keys()
    assert solution["solution"] and not solution["grade"] and not solution["locked"]
    assert test["grade"] and test["locked"] and not test["solution"] and test["points"] == 4
    assert solution["schema_version"] == test["schema_version"] == 3


# --- the chapters' exercises --------------------------------------------------------------------------------


@pytest.fixture(params=CHAPTERS, ids=[p.stem for p in CHAPTERS])
def chapter(request) -> tuple[str, nbformat.NotebookNode]:
    return request.param.name, nbformat.read(request.param, as_version=4)


def test_every_chapter_ends_with_three_graded_exercises_of_rising_difficulty(chapter):
    name, nb = chapter
    exercises = find_exercises(nb.cells)
    assert len(exercises) >= 3, f"{name}: at least three graded exercises"
    points = [e.points for e in exercises]
    assert points == sorted(points) and points[0] < points[-1], f"{name}: points rise with difficulty: {points}"
    assert all(re.match(r"Exercise \d+ · ", e.title) for e in exercises), f"{name}: '### Exercise N · Title' headings"
    record = max(i for i, c in enumerate(nb.cells) if "record_results(" in c.source)
    first = min(i for i, c in enumerate(nb.cells) if is_solution_cell(c) or is_test_cell(c))
    assert first > record, f"{name}: exercises come after the chapter's results are recorded"
    code_after = [c for c in nb.cells[first:] if c.cell_type == "code"]
    assert all(is_solution_cell(c) or is_test_cell(c) for c in code_after), f"{name}: only exercise code at the end"


def test_every_test_cell_asserts_and_solution_cells_hold_solutions(chapter):
    name, nb = chapter
    for cell in nb.cells:
        if is_test_cell(cell):
            assert re.search(r"^assert ", cell.source, re.MULTILINE), f"{name}: a test cell without asserts"
        if is_solution_cell(cell):
            assert clear_solution(cell.source) != cell.source


def test_some_exercises_have_hidden_tests(chapter):
    name, nb = chapter
    assert any(HIDDEN_TESTS[0] in c.source for c in nb.cells if is_test_cell(c)), f"{name}: add hidden tests"


def test_every_exercise_depends_only_on_the_chapter_and_its_own_solution(chapter):
    """What makes one run of each chapter enough: its student version runs the same cells up to the exercises."""
    name, nb = chapter
    assert exercise_dependency_problems(nb.cells) == [], name


# --- exercise dependencies ----------------------------------------------------------------------------------


def test_defined_and_read_names_cover_every_kind_of_binding_and_scope():
    source = ("import os\nfrom a import b as c\nfor i in range(3):\n    pass\nwith open('x') as fh:\n    pass\n"
              "def g():\n    global q\n    q = 1\n    return helper(i)\nclass K:\n    size = width\n"
              "squares = [n * scale for n in range(3)]\n(w := 3)\n%timeit g()")
    assert defined_names(source) == {"os", "c", "i", "fh", "g", "q", "K", "squares", "w"}
    assert read_names(source) == {"helper", "i", "width", "scale"}  # builtins (open, range) are not names to define


def tiny_exercises(first_test: str, second_test: str = "assert y == 2", after: str | None = None) -> list:
    md = nbformat.v4.new_markdown_cell
    cells = [
        code("data = [1, 2, 3]"),
        md("### Exercise 1 · One (2 points)"),
        code("### BEGIN SOLUTION\nx = len(data)\n### END SOLUTION", solution_metadata("one_solution")),
        code(first_test, autograded_metadata("one_tests", 2)),
        md("### Exercise 2 · Two (3 points)"),
        code("### BEGIN SOLUTION\ny = 2\n### END SOLUTION", solution_metadata("two_solution")),
        code(second_test, autograded_metadata("two_tests", 3)),
    ]
    return cells + ([code(after)] if after is not None else [])


def test_independent_exercises_pass_the_dependency_check():
    assert exercise_dependency_problems(tiny_exercises("assert x == len(data)")) == []


@pytest.mark.parametrize(
    "first_test, second_test, after, message",
    [
        ("assert x == y", "assert y == 2", None, "Exercise 1 · One: its test cell reads 'y', which neither"),
        ("assert x == 3", "assert y == x - 1", None, "Exercise 2 · Two: its test cell reads 'x', which neither"),
        ("assert x == 3\ndata = []", "assert y == 2 and data == []", None, "reads 'data', which an earlier exercise"),
        ("assert x == 3", "assert y == 2", "print(y)", "(after the exercises) reads 'y', which an exercise defines"),
        ("def check():\n    return z\nassert check()", "assert y == 2", None, "reads 'z'"),
    ],
)
def test_the_dependency_check_catches_exercises_that_lean_on_each_other(first_test, second_test, after, message):
    problems = exercise_dependency_problems(tiny_exercises(first_test, second_test, after))
    assert any(message in p for p in problems), problems


# --- student versions ---------------------------------------------------------------------------------------


def test_committed_student_versions_are_what_the_command_writes_now():
    stale = [p.name for p in CHAPTERS if not (STUDENT_DIR / p.name).exists()
             or (STUDENT_DIR / p.name).read_text(encoding="utf-8") != render(p)]
    assert not stale, f"student versions out of date: {stale}; run `make student`"
    assert sorted(p.name for p in STUDENT_DIR.glob("*.ipynb")) == [p.name for p in CHAPTERS]


def test_check_mode_reports_a_stale_student_version(tmp_path, capsys):
    assert main(["01_feedforward", "--out", str(tmp_path), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert main(["01_feedforward", "--out", str(tmp_path)]) == 0
    assert main(["01_feedforward", "--out", str(tmp_path), "--check"]) == 0


def test_release_refuses_an_unknown_chapter(capsys):
    with pytest.raises(SystemExit):
        main(["99_nothing", "--check"])
    assert "unknown chapter" in capsys.readouterr().err


def test_student_versions_hold_no_solution_or_hidden_test_text(chapter):
    name, nb = chapter
    student_text = (STUDENT_DIR / name).read_text(encoding="utf-8")
    for marker in (*SOLUTION, *HIDDEN_TESTS):
        assert marker not in student_text, f"student/{name} contains {marker!r}"
    student = nbformat.read(STUDENT_DIR / name, as_version=4)

    def exercise_lines(notebook: nbformat.NotebookNode) -> Counter:
        return Counter(line.strip() for c in notebook.cells if is_solution_cell(c) or is_test_cell(c)
                       for line in c.source.splitlines() if line.strip())

    secret = Counter()  # every line between the markers, with how often it occurs there
    for cell in nb.cells:
        for begin, end in (SOLUTION, HIDDEN_TESTS):
            for region in re.findall(re.escape(begin) + r"\n(.*?)" + re.escape(end), cell.source, re.DOTALL):
                secret.update(line.strip() for line in region.splitlines() if line.strip())
    in_chapter, in_student = exercise_lines(nb), exercise_lines(student)
    for line, count in secret.items():  # a line may also occur outside the markers (e.g. `with torch.no_grad():`)
        assert in_student[line] <= in_chapter[line] - count, f"student/{name} leaks: {line}"


def test_student_versions_differ_from_the_chapters_only_in_exercises_and_the_badge(chapter):
    name, nb = chapter
    student = nbformat.read(STUDENT_DIR / name, as_version=4)
    assert len(student.cells) == len(nb.cells)
    for index, (ours, theirs) in enumerate(zip(nb.cells, student.cells)):
        assert ours.cell_type == theirs.cell_type and ours.get("id") == theirs.get("id")
        assert ours.metadata == theirs.metadata
        if is_solution_cell(ours):
            assert theirs.source == clear_solution(ours.source)
            assert "# YOUR CODE HERE\n" in theirs.source and "raise NotImplementedError()" in theirs.source
        elif is_test_cell(ours):
            assert theirs.source == remove_hidden_tests(ours.source)
        elif index == 0:
            assert theirs.source == ours.source.replace(f"blob/main/chapters/{name}", f"blob/main/student/{name}")
            assert f"blob/main/student/{name}" in theirs.source, "the badge opens the student version"
        else:
            assert theirs.source == ours.source, f"student/{name} cell {index} differs from the chapter"
    assert student.metadata["course"] == {"chapter": name.removesuffix(".ipynb"), "version": "student"}


def test_student_version_needs_exercises():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("x = 1")])
    with pytest.raises(ValueError, match="no graded exercises"):
        student_version(nb, "00_empty.ipynb")
